"""Errors a user can act on, end to end against `proglog serve`: a request body
that does not parse, a data dir already in use, empty record values and the
record type as the producer sent it."""

import grpc
import pytest

import harness


def raw_call(channel, method, body: bytes, streaming=False):
    """Calls log.v1.Log/`method` with `body` as the request bytes, unparsed."""
    path = f"/log.v1.Log/{method}"
    if streaming:
        return list(channel.unary_stream(path)(body, timeout=10))
    return channel.unary_unary(path)(body, timeout=10)


# A length-delimited field 1 whose length runs past the end of the message.
MALFORMED = b"\x0a\x7fonly a few bytes"


@pytest.mark.parametrize("method,streaming", [("Produce", False), ("Consume", False),
                                              ("ConsumeStream", True), ("GetServers", False)])
def test_malformed_request_body_is_invalid_argument_with_a_message(node, method, streaming):
    with harness.channel(node.rpc_addr) as ch:
        with pytest.raises(grpc.RpcError) as info:
            raw_call(ch, method, MALFORMED, streaming)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert "malformed request" in info.value.details(), info.value.details()
    assert "log.v1." in info.value.details(), info.value.details()


def test_well_formed_raw_bodies_still_work(pb, node):
    with harness.channel(node.rpc_addr) as ch:
        request = pb.log.ProduceRequest(record=pb.log.Record(value=b"raw"))
        reply = pb.log.ProduceResponse.FromString(
            raw_call(ch, "Produce", request.SerializeToString()))
        assert reply.offset == 0


def test_second_node_on_the_same_data_dir_is_already_in_use(node, tmp_path):
    second = harness.Node(tmp_path / "data", "--node-name", "n2").start()
    code = second.wait_exit()
    assert code == 1, second.output()
    assert "already in use" in second.output(), second.output()


def test_empty_values_are_records(pb, log_stub):
    empty = log_stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"")), timeout=10)
    after = log_stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"x")), timeout=10)
    assert after.offset == empty.offset + 1
    record = log_stub.Consume(pb.log.ConsumeRequest(offset=empty.offset), timeout=10).record
    assert record.value == b"" and record.offset == empty.offset


def test_empty_values_replicate_in_a_cluster(pb, tmp_path):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1", "n2", "n3")
        cluster.wait_formed()
        leader = cluster.agreed_leader()
        offset = cluster.stub(leader).Produce(
            pb.log.ProduceRequest(record=pb.log.Record(value=b"")), timeout=10).offset
        for name in ("n1", "n2", "n3"):
            harness.poll(lambda: harness.value_at(pb, cluster.stub(name), offset) is not None, 20,
                         f"the empty record on {name}")
            assert harness.value_at(pb, cluster.stub(name), offset) == b""


def test_disk_full_tells_the_client_without_the_servers_paths(pb, tmp_path):
    from test_durability import small_tmpfs

    with small_tmpfs(tmp_path / "small", "1m") as mount:
        with harness.Node(mount / "data", "--segment-max-store-bytes", "128KiB",
                          "--segment-max-index-bytes", "8KiB") as node, \
                harness.channel(node.rpc_addr) as ch:
            stub = pb.log_grpc.LogStub(ch)
            request = pb.log.ProduceRequest(record=pb.log.Record(value=b"v" * 4096))
            failure = None
            for _ in range(1000):  # 1000 x 4 KiB cannot fit in 1 MiB
                try:
                    stub.Produce(request, timeout=harness.RPC_TIMEOUT)
                except grpc.RpcError as error:
                    failure = error
                    break
            assert failure is not None, "the disk never filled up"
            assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, failure
            assert "disk is full" in failure.details(), failure.details()
            assert str(mount) not in failure.details(), failure.details()
            assert "/" not in failure.details(), failure.details()
            # The operator's log keeps the file the error hit.
            harness.poll(lambda: str(mount) in node.output(), 10, "the path in the node's log")


@pytest.mark.parametrize("args,env,setting,origin", [
    (["--server-tls-cert-file", "/nonexistent/s.pem", "--server-tls-key-file", "/nonexistent/k.pem",
      "--server-tls-ca-file", "/nonexistent/ca.pem"], {}, "server-tls-cert-file",
     "flag --server-tls-cert-file"),
    ([], {"PROGLOG_PEER_TLS_CERT_FILE": "/nonexistent/p.pem",
          "PROGLOG_PEER_TLS_KEY_FILE": "/nonexistent/k.pem",
          "PROGLOG_PEER_TLS_CA_FILE": "/nonexistent/ca.pem"}, "peer-tls-cert-file",
     "environment PROGLOG_PEER_TLS_CERT_FILE"),
    (["--raft-election-timeout", "60ms"], {}, "raft-election-timeout",
     "flag --raft-election-timeout"),
    ([], {"PROGLOG_RAFT_HEARTBEAT_INTERVAL": "400ms"}, "raft-heartbeat-interval",
     "environment PROGLOG_RAFT_HEARTBEAT_INTERVAL"),
    (["--segment-max-index-bytes", "4"], {}, "segment-max-index-bytes",
     "flag --segment-max-index-bytes"),
    (["--metrics-addr", "nowhere"], {}, "metrics-addr", "flag --metrics-addr"),
])
def test_setting_errors_name_the_setting_and_its_source_before_the_data_dir(
        tmp_path, args, env, setting, origin):
    data_dir = tmp_path / "data"
    node = harness.Node(data_dir, *args, env=env).start()
    assert node.wait_exit() == 2, node.output()
    assert f"for {setting} (from {origin})" in node.output(), node.output()
    assert not data_dir.exists()
