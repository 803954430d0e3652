"""Reads past the end of the log are linearizable on every node: a follower answers
OUT_OF_RANGE only once the leader has confirmed where the log ends, and UNAVAILABLE when
no leader can (here: the other two nodes of three are paused with SIGSTOP), never a
possibly stale OUT_OF_RANGE. Reads that find a record are served from the node itself."""

import os
import signal

import grpc
import pytest

import harness

RECORDS = 20


def consume_error(pb, stub, offset):
    """The RpcError a Consume of `offset` fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as error:
        stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=harness.RPC_TIMEOUT)
    return error.value


def all_threads_stopped(pid):
    """Whether every thread of `pid` is stopped. kill(SIGSTOP) returns before they are:
    one thread takes the signal and then stops the rest, and until it runs (late, on a
    busy machine) the others go on serving."""
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/stat", encoding="ascii") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue  # a thread that has just ended
        if state not in ("T", "t"):
            return False
    return True


def test_a_follower_cut_off_from_the_leader_refuses_past_end_reads(pb, tmp_path):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1", "n2", "n3")
        leader = cluster.wait_formed()
        follower = next(n for n in ("n1", "n2", "n3") if n != leader)
        others = [n for n in ("n1", "n2", "n3") if n != follower]
        values = [f"record-{i}".encode() for i in range(RECORDS)]
        for value in values:
            cluster.stub(leader).Produce(pb.log.ProduceRequest(record=pb.log.Record(value=value)),
                                         timeout=harness.RPC_TIMEOUT)
        stub = cluster.stub(follower)
        harness.poll(lambda: harness.value_at(pb, stub, RECORDS - 1) == values[-1], 30,
                     f"{follower} to serve the last record")

        # With a leader to ask, the end is confirmed and the answer is OUT_OF_RANGE.
        for offset in (RECORDS, 10**6):
            error = consume_error(pb, stub, offset)
            assert error.code() == grpc.StatusCode.OUT_OF_RANGE, error

        paused = [cluster.nodes[n].proc.pid for n in others]
        try:
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
            for pid in paused:
                harness.poll(lambda pid=pid: all_threads_stopped(pid), 10, f"{pid} to stop")
            # Records it holds are still served from its own log...
            record = stub.Consume(pb.log.ConsumeRequest(offset=3),
                                  timeout=harness.RPC_TIMEOUT).record
            assert (record.offset, record.value) == (3, values[3])
            # ...but it cannot know that nothing was committed after them.
            for offset in (RECORDS, RECORDS + 5):
                error = consume_error(pb, stub, offset)
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                assert "no leader to confirm the end of the log" in error.details(), error
            record = stub.Consume(pb.log.ConsumeRequest(offset=RECORDS - 1),
                                  timeout=harness.RPC_TIMEOUT).record
            assert record.value == values[-1]
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)

        # Once a leader is back, the end can be confirmed again.
        def past_end_is_out_of_range():
            try:
                stub.Consume(pb.log.ConsumeRequest(offset=RECORDS), timeout=harness.RPC_TIMEOUT)
            except grpc.RpcError as error:
                return error.code() == grpc.StatusCode.OUT_OF_RANGE
            raise AssertionError(f"offset {RECORDS} was never produced")
        harness.poll(past_end_is_out_of_range, 30, f"{follower} to confirm the end again", 0.1)


def test_a_single_node_confirms_the_end_by_itself(pb, log_stub):
    """Quorum of one: no peer to ask, the answer is OUT_OF_RANGE at once."""
    log_stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"only")),
                     timeout=harness.RPC_TIMEOUT)
    error = consume_error(pb, log_stub, 1)
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE, error
