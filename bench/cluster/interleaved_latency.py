#!/usr/bin/env python3
"""Unary Produce latency of one client against a bootstrapped 1-node cluster and a 3-node
cluster (--fsync=always) of each given binary, all running at once: the client sends one
produce to each cluster in turn, round after round, so every cluster sees the same load from
the rest of the machine, and the figures compare binaries and cluster sizes fairly on a
machine other jobs share (back-to-back runs there differ by more than what is measured).
Prints p50/p90 per cluster and the throughput-equivalent 3n/1n ratio (1n p50 over 3n p50,
which is what closed-loop records/s at one client compare); asserts nothing.

    python3 bench/cluster/interleaved_latency.py --proglog OLD --proglog NEW [--rounds 3000]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import harness  # noqa: E402


def start_cluster(stack, binary, base_dir, size, pb):
    os.environ["PROGLOG_BIN"] = binary  # read when each node is created
    cluster = stack.enter_context(harness.Cluster(base_dir, "--fsync", "always", pb=pb))
    cluster.start(*[f"n{i}" for i in range(1, size + 1)])
    return cluster.stub(cluster.wait_formed())


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proglog", action="append", required=True, help="binary (repeatable)")
    parser.add_argument("--rounds", type=int, default=3000, help="produces per cluster")
    parser.add_argument("--value-bytes", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proglog-interleaved-") as tmp, ExitStack() as stack:
        (Path(tmp) / "pb").mkdir()
        pb = harness.generate_stubs(Path(tmp) / "pb")
        stubs = {}
        for b, binary in enumerate(args.proglog):
            for size in (1, 3):
                stubs[(b, size)] = start_cluster(stack, binary, Path(tmp) / f"{b}-{size}", size, pb)
        request = pb.log.ProduceRequest(record=pb.log.Record(value=b"v" * args.value_bytes))
        seconds = {key: [] for key in stubs}
        for round_ in range(args.rounds + 200):
            for key, stub in stubs.items():
                start = time.perf_counter()
                stub.Produce(request, timeout=harness.RPC_TIMEOUT)
                if round_ >= 200:  # the first rounds warm the channels and nodes
                    seconds[key].append(time.perf_counter() - start)
        print(f"{args.rounds} produces of {args.value_bytes} B per cluster, one at a time, "
              "clusters in turn")
        for b, binary in enumerate(args.proglog):
            p50 = {}
            for size in (1, 3):
                us = [s * 1e6 for s in seconds[(b, size)]]
                p50[size] = statistics.median(us)
                print(f"  [{b}] {size}n p50 {p50[size]:7.0f} us  p90 {percentile(us, 0.9):7.0f} us"
                      f"  {binary}")
            print(f"  [{b}] 1n p50 / 3n p50 = {p50[1] / p50[3]:.2f}")


if __name__ == "__main__":
    main()
