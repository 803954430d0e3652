"""Retention in a cluster: each node removes whole old segments behind a
snapshot point, and a node that joins after the leader removed the start of the
log catches up from that snapshot and then by replication, serving the same
records at the same offsets and OUT_OF_RANGE below the leader's lowest offset."""
import grpc
import pytest

import harness

VALUE_BYTES = 1000
RECORDS = 600


def produce_all(pb, stub, values):
    requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
    return [r.offset for r in stub.ProduceStream(requests, timeout=60)]


def lowest_readable(pb, stub, upto):
    """The first offset below `upto` that Consume serves (retention removed those before)."""
    for offset in range(upto):
        try:
            stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=harness.RPC_TIMEOUT)
            return offset
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.OUT_OF_RANGE, error
    return upto


def test_a_node_joining_after_retention_catches_up_from_the_snapshot(pb, tmp_path):
    with harness.Cluster(tmp_path, "--segment-max-store-bytes", "64KiB",
                         "--retention-bytes", "128KiB", "--retention-check-interval", "100ms",
                         pb=pb) as cluster:
        cluster.start("n1")
        leader = cluster.stub("n1")
        values = [i.to_bytes(4, "big") * (VALUE_BYTES // 4) for i in range(RECORDS)]
        assert produce_all(pb, leader, values) == list(range(RECORDS))
        # The leader's retention drops the start of the log.
        harness.poll(lambda: lowest_readable(pb, leader, RECORDS) > 0, 30,
                     "retention to remove the oldest records on the leader")
        leader_lowest = lowest_readable(pb, leader, RECORDS)

        cluster.start("n2")
        cluster.wait_formed(["n1", "n2"])
        follower = cluster.stub("n2")

        harness.poll(lambda: harness.value_at(pb, follower, RECORDS - 1) == values[-1], 30,
                     "n2 to serve the last record")
        follower_lowest = lowest_readable(pb, follower, RECORDS)
        # It starts where the leader's snapshot said the log starts, or later
        # (its own retention), never below what the leader kept.
        assert follower_lowest >= leader_lowest > 0
        with pytest.raises(grpc.RpcError) as error:
            follower.Consume(pb.log.ConsumeRequest(offset=0), timeout=harness.RPC_TIMEOUT)
        assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE
        for offset in range(follower_lowest, RECORDS):
            record = follower.Consume(pb.log.ConsumeRequest(offset=offset),
                                      timeout=harness.RPC_TIMEOUT).record
            assert (record.offset, record.value) == (offset, values[offset])

        # Replication carries on from there at the same offsets.
        more = [b"after-%d" % i for i in range(50)]
        assert produce_all(pb, leader, more) == list(range(RECORDS, RECORDS + 50))
        harness.poll(lambda: harness.value_at(pb, follower, RECORDS + 49) == more[-1], 30,
                     "n2 to replicate the new records")
