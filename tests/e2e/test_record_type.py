"""Record.type on a cluster of real `proglog` processes: the type a producer
sends comes back unchanged from every node, through Consume, ConsumeStream and
log.v1.Batch ConsumeBatch, also from a follower that was killed and restarted
(its log is read back from disk and caught up over Raft)."""

import signal

import grpc
import pytest

import harness

FAST = ("--raft-election-timeout", "300ms")

# (value, type): type 0 is the common case, the others travel as typed entries.
PRODUCED = [(b"zero", 0), (b"seven", 7), (b"max", 0xFFFFFFFF), (b"", 3), (b"one", 1)]
STREAMED = [(b"stream-9", 9), (b"stream-0", 0), (b"stream-65536", 65536)]
BATCHED = [(b"batch-11", 11), (b"batch-0", 0), (b"batch-12", 12)]
WHILE_DOWN = [(b"while-down-42", 42), (b"while-down-0", 0)]


def produce(pb, stub, value, type_):
    request = pb.log.ProduceRequest(record=pb.log.Record(value=value, type=type_))
    return stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset


def produce_stream(pb, stub, records):
    requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v, type=t)) for v, t in records)
    return [r.offset for r in stub.ProduceStream(requests, timeout=harness.RPC_TIMEOUT)]


def produce_batch(pb, channel, records):
    stub = pb.batch_grpc.BatchStub(channel)
    request = pb.batch.ProduceBatchRequest(values=[v for v, _ in records],
                                           types=[t for _, t in records])
    response = stub.ProduceBatch(request, timeout=harness.RPC_TIMEOUT)
    return list(range(response.base_offset, response.base_offset + response.count))


def readable(pb, stub, offset):
    try:
        stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=5)
        return True
    except grpc.RpcError as error:
        if error.code() in (grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE,
                            grpc.StatusCode.DEADLINE_EXCEEDED):
            return False
        raise


def consume_each(pb, stub, count):
    out = []
    for offset in range(count):
        record = stub.Consume(pb.log.ConsumeRequest(offset=offset),
                              timeout=harness.RPC_TIMEOUT).record
        assert record.offset == offset
        out.append((record.value, record.type))
    return out


def consume_stream(pb, stub, count):
    stream = stub.ConsumeStream(pb.log.ConsumeRequest(offset=0), timeout=harness.RPC_TIMEOUT)
    out = []
    try:
        for response in stream:
            out.append((response.record.value, response.record.type))
            if len(out) == count:
                break
    finally:
        stream.cancel()
    return out


def consume_batch(pb, channel, count):
    stub = pb.batch_grpc.BatchStub(channel)
    response = stub.ConsumeBatch(pb.batch.ConsumeBatchRequest(offset=0, max_records=count),
                                 timeout=harness.RPC_TIMEOUT)
    assert response.base_offset == 0
    types = list(response.types) or [0] * len(response.values)
    return list(zip(response.values, types))


def assert_every_read_gives(pb, cluster, name, expected):
    stub = cluster.stub(name)
    harness.poll(lambda: readable(pb, stub, len(expected) - 1), 60,
                 f"{name} to hold offset {len(expected) - 1}", 0.05)
    assert consume_each(pb, stub, len(expected)) == expected, f"{name}: Consume"
    assert consume_stream(pb, stub, len(expected)) == expected, f"{name}: ConsumeStream"
    with harness.channel(cluster.nodes[name].rpc_addr) as channel:
        assert consume_batch(pb, channel, len(expected)) == expected, f"{name}: ConsumeBatch"


@pytest.fixture
def cluster(pb, tmp_path):
    with harness.Cluster(tmp_path, *FAST, pb=pb) as c:
        yield c


def test_every_node_returns_the_type_the_producer_sent_also_after_a_follower_restart(
        pb, cluster):
    cluster.start("n1", "n2", "n3")
    leader = cluster.wait_formed()
    expected = []
    for value, type_ in PRODUCED:
        assert produce(pb, cluster.stub(leader), value, type_) == len(expected)
        expected.append((value, type_))
    assert produce_stream(pb, cluster.stub(leader), STREAMED) == list(
        range(len(expected), len(expected) + len(STREAMED)))
    expected += STREAMED
    with harness.channel(cluster.nodes[leader].rpc_addr) as channel:
        assert produce_batch(pb, channel, BATCHED) == list(
            range(len(expected), len(expected) + len(BATCHED)))
    expected += BATCHED
    for name in ("n1", "n2", "n3"):
        assert_every_read_gives(pb, cluster, name, expected)

    follower = next(n for n in ("n3", "n2", "n1") if n != leader)
    assert cluster.nodes[follower].stop(signal.SIGKILL) == -signal.SIGKILL
    # Typed records the follower must get by replication once it is back.
    for value, type_ in WHILE_DOWN:
        assert produce(pb, cluster.stub(leader), value, type_) == len(expected)
        expected.append((value, type_))
    cluster.restart(follower)
    assert_every_read_gives(pb, cluster, follower, expected)
