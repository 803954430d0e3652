"""The log.v1 API of a real proglog process, through a Python client generated
from the proto by grpcio-tools."""

import queue
import random
import threading

import grpc
import pytest
from google.protobuf import descriptor_pb2

import harness


def random_values(seed, count, max_len=300):
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(1, max_len)) for _ in range(count)]


def produce(pb, stub, value):
    return stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=value)),
                        timeout=harness.RPC_TIMEOUT).offset


def consume(pb, stub, offset):
    return stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=harness.RPC_TIMEOUT).record


def produce_stream(pb, stub, values):
    requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
    return [r.offset for r in stub.ProduceStream(requests, timeout=120)]


def consume_stream(pb, stub, offset, count):
    """The first `count` records of a ConsumeStream from `offset`."""
    stream = stub.ConsumeStream(pb.log.ConsumeRequest(offset=offset), timeout=120)
    records = []
    for response in stream:
        records.append(response.record)
        if len(records) == count:
            break
    stream.cancel()
    return records


def test_produce_round_trips_thousands_of_records_with_dense_offsets(pb, log_stub):
    values = random_values(1, 2000)
    offsets = [produce(pb, log_stub, v) for v in values]
    assert offsets == list(range(len(values)))
    for offset, value in zip(offsets, values):
        record = consume(pb, log_stub, offset)
        assert (record.offset, record.value) == (offset, value)


def test_produce_stream_pipelines_thousands_of_records_in_order(pb, log_stub):
    values = random_values(2, 5000)
    assert produce_stream(pb, log_stub, values) == list(range(len(values)))
    records = consume_stream(pb, log_stub, 0, len(values))
    assert [(r.offset, r.value) for r in records] == list(enumerate(values))


def test_consume_stream_tails_records_produced_after_it_caught_up(pb, log_stub):
    produce(pb, log_stub, b"before")
    stream = log_stub.ConsumeStream(pb.log.ConsumeRequest(offset=0), timeout=120)
    received = queue.Queue()

    def drain():
        try:
            for response in stream:
                received.put(response.record)
        except grpc.RpcError as error:
            received.put(error)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert received.get(timeout=harness.RPC_TIMEOUT).value == b"before"
    for i in range(1, 4):
        # The stream is idle at the tail; each new record must wake it.
        value = f"after-{i}".encode()
        assert produce(pb, log_stub, value) == i
        record = received.get(timeout=harness.RPC_TIMEOUT)
        assert (record.offset, record.value) == (i, value)
    stream.cancel()
    reader.join(timeout=harness.RPC_TIMEOUT)
    assert not reader.is_alive()


def test_consume_past_the_end_is_out_of_range(pb, log_stub):
    assert produce(pb, log_stub, b"only") == 0
    for offset in (1, 2, 1 << 40):
        with pytest.raises(grpc.RpcError) as error:
            consume(pb, log_stub, offset)
        assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE


def test_produce_without_a_record_is_invalid_argument(pb, log_stub):
    with pytest.raises(grpc.RpcError) as error:
        log_stub.Produce(pb.log.ProduceRequest(), timeout=harness.RPC_TIMEOUT)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The refused request took no offset; a record with an empty value is a record.
    assert log_stub.Produce(pb.log.ProduceRequest(record=pb.log.Record()),
                            timeout=harness.RPC_TIMEOUT).offset == 0
    assert produce(pb, log_stub, b"first") == 1


def test_oversized_record_is_resource_exhausted_and_takes_no_offset(pb, tmp_path):
    with harness.Node(tmp_path / "data", "--max-record-bytes", "1KiB") as node, \
            harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        with pytest.raises(grpc.RpcError) as error:
            produce(pb, stub, b"x" * 1025)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.value.details().startswith("message too large")
        assert "1024" in error.value.details()
        assert produce(pb, stub, b"y" * 1024) == 0
        assert consume(pb, stub, 0).value == b"y" * 1024


def test_get_servers_names_this_node_as_leader(pb, node, log_stub):
    response = log_stub.GetServers(pb.log.GetServersRequest(), timeout=harness.RPC_TIMEOUT)
    assert [(s.id, s.rpc_addr, s.is_leader) for s in response.servers] == [
        ("n1", node.rpc_addr, True)]


def test_health_service_reports_serving(pb, node):
    with harness.channel(node.rpc_addr) as ch:
        health = pb.health_grpc.HealthStub(ch)
        response = health.Check(pb.health.HealthCheckRequest(service=""),
                                timeout=harness.RPC_TIMEOUT)
        assert response.status == pb.health.HealthCheckResponse.SERVING


def test_reflection_describes_the_log_service_without_a_proto_file(pb, node):
    with harness.channel(node.rpc_addr) as ch:
        reflection = pb.reflection_grpc.ServerReflectionStub(ch)
        requests = [
            pb.reflection.ServerReflectionRequest(list_services=""),
            pb.reflection.ServerReflectionRequest(file_containing_symbol="log.v1.Log"),
        ]
        listed, described = list(reflection.ServerReflectionInfo(iter(requests),
                                                                  timeout=harness.RPC_TIMEOUT))
    names = {s.name for s in listed.list_services_response.service}
    assert {"log.v1.Log", "grpc.health.v1.Health"} <= names
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in described.file_descriptor_response.file_descriptor_proto]
    log_file = next(f for f in files if f.package == "log.v1")
    service = next(s for s in log_file.service if s.name == "Log")
    assert {m.name for m in service.method} == {
        "Produce", "Consume", "ConsumeStream", "ProduceStream", "GetServers"}


def test_documented_command_line_serves_the_api(pb, tmp_path):
    """The exact command of the acceptance check, on free ports."""
    rpc_port, gossip_port = harness.free_port(), harness.free_gossip_port()
    node = harness.Node(tmp_path / "d", "--bind-addr", f"127.0.0.1:{gossip_port}",
                        "--bootstrap", "--node-name", "n1", rpc_port=rpc_port)
    with node, harness.channel(f"127.0.0.1:{rpc_port}") as ch:
        assert node.rpc_addr == f"127.0.0.1:{rpc_port}"
        stub = pb.log_grpc.LogStub(ch)
        values = random_values(3, 1000)
        assert produce_stream(pb, stub, values) == list(range(1000))
        assert consume(pb, stub, 999).value == values[999]
        with pytest.raises(grpc.RpcError) as error:
            consume(pb, stub, 1000)
        assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE
