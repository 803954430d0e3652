#!/usr/bin/env python3
"""What one replicated unary Produce costs the nodes, in counts that do not depend on how
loaded the machine is: thread wake-ups (voluntary context switches), preemptions
(involuntary ones), read and write system calls (/proc/PID/io: socket messages and log
writes), and CPU time, per produce, summed over each node's threads. One client sends
`--produces` Produces of `--value-bytes` one after the other to the leader of a bootstrapped
1-node cluster and of a 3-node cluster (--fsync=always); the counters of every node are read
from /proc before and after. `--threads` also breaks the wake-ups down by thread name.
Prints figures; asserts nothing.

    python3 bench/cluster/produce_costs.py [--proglog build/server/proglog] [--produces 2000]
"""

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import harness  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def thread_counters(pid):
    """Per thread name: Counter of voluntary and involuntary switches and CPU ticks."""
    out = collections.defaultdict(collections.Counter)
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        c = out[name]
        c["vol"] += int(status["voluntary_ctxt_switches"])
        c["invol"] += int(status["nonvoluntary_ctxt_switches"])
        c["ticks"] += int(stat[11]) + int(stat[12])  # utime + stime
    return out


def process_counters(pid):
    with open(f"/proc/{pid}/io") as f:
        io = dict(line.split(": ") for line in f.read().splitlines())
    return {"syscr": int(io["syscr"]), "syscw": int(io["syscw"]), "threads": thread_counters(pid)}


def difference(after, before):
    threads = {}
    for name, c in after["threads"].items():
        d = c.copy()
        d.subtract(before["threads"].get(name, collections.Counter()))
        threads[name] = d
    return {"syscr": after["syscr"] - before["syscr"], "syscw": after["syscw"] - before["syscw"],
            "threads": threads}


def produce_loop(pb, stub, count, value):
    seconds = []
    request = pb.log.ProduceRequest(record=pb.log.Record(value=value))
    for _ in range(count):
        start = time.perf_counter()
        stub.Produce(request, timeout=harness.RPC_TIMEOUT)
        seconds.append(time.perf_counter() - start)
    return seconds


def measure(pb, base_dir, size, args):
    """Counter differences per node over `args.produces` sequential produces, and latencies."""
    names = [f"n{i}" for i in range(1, size + 1)]
    with harness.Cluster(base_dir, "--fsync", "always", pb=pb) as cluster:
        cluster.start(*names)
        leader = cluster.wait_formed()
        stub = cluster.stub(leader)
        value = b"v" * args.value_bytes
        produce_loop(pb, stub, 200, value)  # warm the channel and the nodes
        pids = {name: cluster.nodes[name].proc.pid for name in names}
        before = {name: process_counters(pid) for name, pid in pids.items()}
        seconds = produce_loop(pb, stub, args.produces, value)
        after = {name: process_counters(pid) for name, pid in pids.items()}
    roles = {name: ("leader" if name == leader else "follower") for name in names}
    return {name: difference(after[name], before[name]) for name in names}, roles, seconds


def print_costs(size, diffs, roles, seconds, args):
    n = args.produces
    us = sorted(s * 1e6 for s in seconds)
    print(f"\n{size} node(s): {n} sequential produces of {args.value_bytes} B, "
          f"client p50 {statistics.median(us):.0f} us")
    print(f"  {'node':14} {'wakeups':>8} {'preempt':>8} {'reads':>7} {'writes':>7} {'cpu us':>7}"
          "   (per produce)")
    total = collections.Counter()
    for name, d in diffs.items():
        t = sum(d["threads"].values(), collections.Counter())
        row = {"vol": t["vol"], "invol": t["invol"], "syscr": d["syscr"], "syscw": d["syscw"],
               "cpu": t["ticks"] * 1e6 / CLOCK_TICKS}
        total.update(row)
        print(f"  {name + ' ' + roles[name]:14} {row['vol'] / n:8.2f} {row['invol'] / n:8.2f} "
              f"{row['syscr'] / n:7.2f} {row['syscw'] / n:7.2f} {row['cpu'] / n:7.0f}")
    print(f"  {'all nodes':14} {total['vol'] / n:8.2f} {total['invol'] / n:8.2f} "
          f"{total['syscr'] / n:7.2f} {total['syscw'] / n:7.2f} {total['cpu'] / n:7.0f}")
    if not args.threads:
        return
    for name, d in diffs.items():
        busy = sorted(((c["vol"], t) for t, c in d["threads"].items() if c["vol"] > n // 20),
                      reverse=True)
        print(f"  {name} wake-ups by thread: " +
              ", ".join(f"{t} {v / n:.2f}" for v, t in busy))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proglog", default=str(REPO / "build" / "server" / "proglog"))
    parser.add_argument("--produces", type=int, default=2000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--threads", action="store_true", help="wake-ups per thread name")
    parser.add_argument("--sizes", default="1,3", help="cluster sizes to measure")
    args = parser.parse_args()
    os.environ["PROGLOG_BIN"] = args.proglog
    with tempfile.TemporaryDirectory(prefix="proglog-produce-costs-") as tmp:
        (Path(tmp) / "pb").mkdir()
        pb = harness.generate_stubs(Path(tmp) / "pb")
        for size in (int(s) for s in args.sizes.split(",")):
            diffs, roles, seconds = measure(pb, Path(tmp) / f"data-{size}", size, args)
            print_costs(size, diffs, roles, seconds, args)


if __name__ == "__main__":
    main()
