#!/usr/bin/env python3
"""What a linearizable past-the-end read costs: Consume latency on a 3-node cluster for a
record the node holds (served from its own log) and for an offset past the end (the node
first confirms the end with the leader: a heartbeat round to a majority, forwarded by a
follower). Prints p50/p99 per case; asserts nothing.

    python3 bench/cluster/read_confirm.py [--proglog build/server/proglog] [--reads 1000]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import harness  # noqa: E402


def timed_reads(pb, stub, offsets):
    """Seconds per Consume of each offset, in order; OUT_OF_RANGE counts as an answer."""
    out = []
    for offset in offsets:
        start = time.perf_counter()
        try:
            stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=harness.RPC_TIMEOUT)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.OUT_OF_RANGE:
                raise
        out.append(time.perf_counter() - start)
    return out


def row(name, seconds):
    us = sorted(s * 1e6 for s in seconds)
    p99 = us[min(len(us) - 1, int(0.99 * len(us)))]
    print(f"{name:34} p50 {statistics.median(us):8.0f} us   p99 {p99:8.0f} us   n={len(us)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proglog", default=str(REPO / "build" / "server" / "proglog"))
    parser.add_argument("--reads", type=int, default=1000, help="reads per case")
    args = parser.parse_args()
    os.environ["PROGLOG_BIN"] = args.proglog
    with tempfile.TemporaryDirectory(prefix="proglog-read-confirm-") as tmp:
        (Path(tmp) / "pb").mkdir()
        pb = harness.generate_stubs(Path(tmp) / "pb")
        with harness.Cluster(Path(tmp) / "data", pb=pb) as cluster:
            cluster.start("n1", "n2", "n3")
            leader = cluster.wait_formed()
            follower = next(n for n in ("n1", "n2", "n3") if n != leader)
            records = 100
            for i in range(records):
                cluster.stub(leader).Produce(
                    pb.log.ProduceRequest(record=pb.log.Record(value=b"x" * 100)),
                    timeout=harness.RPC_TIMEOUT)
            harness.poll(lambda: harness.value_at(pb, cluster.stub(follower), records - 1), 30,
                         "the follower to hold every record")
            found = [i % records for i in range(args.reads)]
            past = [records + i % 7 for i in range(args.reads)]
            print(f"3 nodes on loopback, --fsync=always, {args.reads} sequential Consumes per row")
            for name, role in ((leader, "leader"), (follower, "follower")):
                stub = cluster.stub(name)
                timed_reads(pb, stub, found[:50])  # warm the channel
                row(f"{role}: found record", timed_reads(pb, stub, found))
                row(f"{role}: past the end (confirmed)", timed_reads(pb, stub, past))


if __name__ == "__main__":
    main()
