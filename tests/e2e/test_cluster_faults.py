"""Bad input and lonely nodes in a cluster: a second node with a taken name is
refused, a node with nobody to join reports that it has no leader, and garbage
on the Raft side of the RPC port does not stop a node."""
import socket

import grpc
import pytest

import harness


def test_a_second_node_with_a_taken_name_is_refused(pb, tmp_path):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1")
        twin = harness.Node(tmp_path / "twin", "--node-name", "n1",
                            "--start-join-addrs", cluster.gossip_addr("n1"))
        twin.start()
        assert twin.wait_exit() == 1, twin.output()
        assert "node name n1 is taken" in twin.output()
        assert cluster.wait_formed(["n1"]) == "n1"  # the first one is unharmed


def test_a_node_with_nobody_to_join_has_no_leader_and_says_so(pb, tmp_path):
    # A join address where nobody answers: the node serves, but cannot lead.
    lonely = harness.Node(tmp_path / "d", "--node-name", "lonely",
                          "--start-join-addrs", f"127.0.0.1:{harness.free_port()}")
    with lonely, harness.channel(lonely.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        with pytest.raises(grpc.RpcError) as error:
            stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"x")),
                         timeout=harness.RPC_TIMEOUT)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no leader" in error.value.details()
        assert all(key != "proglog-leader" for key, _ in error.value.trailing_metadata() or [])
        servers = stub.GetServers(pb.log.GetServersRequest(), timeout=harness.RPC_TIMEOUT)
        assert [(s.id, s.is_leader) for s in servers.servers] == [("lonely", False)]


@pytest.mark.parametrize("garbage", [b"\x01" + b"\xff" * 64, b"\x01PLRM" + b"\x00" * 40])
def test_garbage_on_a_raft_connection_is_dropped_and_the_node_keeps_serving(
        pb, tmp_path, garbage):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1", "n2")
        leader = cluster.wait_formed()
        host, port = cluster.nodes[leader].rpc_addr.rsplit(":", 1)
        for _ in range(5):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(garbage)
        stub = cluster.stub(leader)
        offset = stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"ok")),
                              timeout=harness.RPC_TIMEOUT).offset
        follower = [n for n in cluster.live() if n != leader][0]
        harness.poll(lambda: harness.value_at(pb, cluster.stub(follower), offset) == b"ok", 20,
                     "the follower to replicate after the garbage")
