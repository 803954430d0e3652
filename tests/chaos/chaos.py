"""Runs proglog clusters under faults and judges what the clients saw (see README.md,
"Chaos tests"). Entry point: tests/chaos/run."""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

if os.geteuid() != 0:  # before anything else, so the message is about what matters
    sys.exit("chaos: needs root: CAP_NET_ADMIN for network namespaces, bridges, veths and "
             "iptables rules, CAP_SYS_ADMIN to mount the nodes' tmpfs data dirs")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import harness  # noqa: E402  (generates the Python client from the proto)

import verify  # noqa: E402
from cluster import Cluster, binary  # noqa: E402
from nemesis import NEMESES, Nemesis  # noqa: E402
from net import HarnessError, Network, require_privileges  # noqa: E402
from workload import Workload  # noqa: E402

# The fixed set `make test` runs: every nemesis once on 3 nodes, the partitions again on 5.
QUICK_SET = [(kind, 1, 3) for kind in NEMESES] + [("split", 2, 5), ("bridge", 3, 5)]
CHECKER_TIMEOUT_S = 300


def build_dir() -> Path:
    return Path(os.environ.get("BUILD_DIR", REPO / "build")).resolve()


def build_checker(out_dir: Path) -> str:
    out = out_dir / "chaos-checker"
    result = subprocess.run(["go", "build", "-o", str(out), "."], cwd=HERE / "checker",
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"cannot build the checker (tests/chaos/checker): {result.stderr}")
    return str(out)


class Run:
    """One cluster, one nemesis, one seed."""

    def __init__(self, kind, seed, nodes, cycles, ctx):
        self.kind, self.seed, self.nodes, self.cycles = kind, seed, nodes, cycles
        self.ctx = ctx
        self.name = f"{kind}-s{seed}-n{nodes}"
        self.dir = ctx.runs_dir / self.name
        self.rng = random.Random(f"{kind}/{seed}/{nodes}")
        self.schedule = []
        self.result = {"kind": kind, "seed": seed, "nodes": nodes, "cycles": cycles,
                       "complete": False}
        self.t0 = time.monotonic()

    def log(self, line):
        stamped = f"  [{self.name} t={time.monotonic() - self.t0:6.2f}s] {line}"
        self.schedule.append(stamped)
        print(stamped, flush=True)

    def replay_command(self):
        extra = f" --inject {self.ctx.inject}" if self.ctx.inject else ""
        if self.kind == "kill-loop":
            return f"tests/chaos/run --kill-loop {self.cycles} --seed {self.seed}{extra}"
        return (f"tests/chaos/run --nemesis {self.kind} --seed {self.seed} --nodes "
                f"{self.nodes} --cycles {self.cycles}{extra}")

    def execute(self):
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        net = Network(self.nodes)
        cluster = Cluster(net, self.dir, self.ctx.pb, block_devices=self.kind == "slow-disk")
        workload = Workload(cluster, f"{self.name}-{net.tag}", self.rng.randrange(1 << 30))
        nemesis = Nemesis("kill" if self.kind == "kill-loop" else self.kind, cluster, workload,
                          self.rng, self.log)
        self.log(f"start: {self.nodes} nodes in namespaces chaos-{net.tag}-*, seed {self.seed}"
                 f"; replay: {self.replay_command()}")
        try:
            net.create()
            cluster.start_all()
            workload.start()
            self._faults(nemesis)
            self.log(f"healed; leader {cluster.wait_healthy(timeout=60)}")
            time.sleep(2.0)  # the clients see the healed cluster
            workload.stop_writes.set()
            for t in workload.threads[:workload.n_producers + workload.n_readers]:
                t.join(timeout=30)
            self._judge(cluster, workload)
            self.result["complete"] = True
        except HarnessError as err:
            self.result["error"] = str(err)
            self.log(f"INCOMPLETE: {err}")
        except Exception as err:  # a harness bug must not pass for a verdict either
            self.result["error"] = f"{type(err).__name__}: {err}"
            self.log(f"INCOMPLETE: {traceback.format_exc()}")
        finally:
            try:
                workload.stop()
            except Exception as err:
                self.result.setdefault("error", str(err))
            cluster.close()
            net.destroy()
        self.result["schedule"] = self.schedule
        self.result["replay"] = self.replay_command()
        failed = not self.result["complete"] or self.result.get("violations")
        if not failed and not self.ctx.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif failed:
            self.result["evidence"] = str(self.dir)
        return self.result

    def _faults(self, nemesis):
        loop = self.kind == "kill-loop"
        for cycle in range(self.cycles):
            time.sleep(self.rng.uniform(0.3, 1.0) if loop else self.rng.uniform(1.0, 2.0))
            self.log(f"cycle {cycle + 1}: {nemesis.fault()}")
            if self.kind != "rolling-restart":
                time.sleep(self.rng.uniform(0.2, 1.0) if loop else self.rng.uniform(2.0, 4.0))
            self.log(f"cycle {cycle + 1}: {nemesis.heal()}")

    def _inject(self, workload):
        """Adds one made-up anomaly to the history, to show that the judge catches it."""
        acked = [e for e in workload.history if e["op"] == "append" and e["status"] == "ok"]
        victim = acked[len(acked) // 2]
        after = victim["complete"] + 1
        if self.ctx.inject == "lost-ack":  # an ack for a record no node has
            value = f"{workload.run_id}-injected"
            workload.sent.add(value)
            workload.history.append({"op": "append", "status": "ok", "client": 998,
                                     "node": "injected", "value": value,
                                     "offset": victim["offset"], "invoke": after,
                                     "complete": after + 1})
        else:  # stale-read: nothing found at an offset acknowledged before the read began
            workload.history.append({"op": "read", "status": "ok", "client": 998,
                                     "node": "injected", "offset": victim["offset"],
                                     "found": False, "invoke": after, "complete": after + 1})
        self.log(f"injected a {self.ctx.inject} at offset {victim['offset']}")

    def _judge(self, cluster, workload):
        last = verify.barrier(workload, cluster)
        logs = {name: verify.read_log(cluster, name, last) for name in cluster.net.names}
        workload.stop()
        if self.ctx.inject:
            self._inject(workload)
        counters, problems, final = verify.check_logs(workload, logs, last)
        more, more_problems = verify.check_reads_and_streams(workload, final)
        counters.update(more)
        problems += more_problems
        history = self.dir / "history.jsonl"
        verify.write_history(workload, final, history)
        verdict = verify.run_checker(self.ctx.checker, history, CHECKER_TIMEOUT_S)
        appends = [e for e in workload.history if e["op"] == "append"]
        status = Counter(e["status"] for e in appends)
        linearizable = verdict["result"] == "Ok"
        self.result.update(
            ops=len(workload.history), appends=len(appends), acknowledged=status["ok"],
            unknown=status["unknown"], failed=status["failed"],
            unknown_applied=sum(1 for e in appends if e["status"] == "unknown"
                                and e["value"] in set(final)),
            reads=sum(1 for e in workload.history if e["op"] == "read"),
            reads_past_end=sum(1 for e in workload.history if e["op"] == "read"
                               and e["status"] == "ok" and not e.get("found")),
            reads_failed=sum(1 for e in workload.history if e["op"] == "read"
                             and e["status"] != "ok"),
            streamed=sum(len(r) for _, _, r, _ in workload.streams),
            log_length=last + 1, counters=dict(counters), problems=problems[:20],
            lost=counters["lost"], duplicated=counters["duplicated"],
            checker=verdict, linearizable=linearizable,
            outages=[(s, dict(e)) for s, e in verify.outages(workload)],
            stale_reads=sum(verify.stale_reads(workload).values()))
        other = sum(v for k, v in counters.items() if k not in ("lost", "duplicated"))
        self.result["violations"] = counters["lost"] + counters["duplicated"] + other + (
            0 if linearizable else 1)
        self.log(f"judged: {status['ok']} acknowledged, {status['unknown']} unknown, "
                 f"log {last + 1} records on {len(logs)} nodes, checker {verdict['result']} "
                 f"({verdict['checked']} ops, {verdict['seconds']:.1f}s), "
                 f"anomalies {dict(counters) or 'none'}")
        for p in problems[:20]:
            self.log(f"  PROBLEM {p}")


def percentile(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def report(results, out):
    lines = []
    by_kind = defaultdict(list)
    for r in results:
        by_kind[r["kind"]].append(r)
    lines.append("chaos report")
    header = (f"{'nemesis':16} {'runs':>4} {'ops':>7} {'acked':>6} {'unknown':>7} "
              f"{'lost':>4} {'dup':>3} {'checker':>9} {'outage p50':>10} {'max':>6}  errors seen")
    lines.append(header)
    total = Counter()
    for kind, runs in by_kind.items():
        done = [r for r in runs if r["complete"]]
        spans = [s for r in done for s, _ in r.get("outages", [])]
        errors = Counter()
        for r in done:
            for _, e in r.get("outages", []):
                errors.update(e)
        verdicts = Counter("Ok" if r.get("linearizable") else "Illegal" for r in done)
        verdict = ",".join(f"{k}:{v}" for k, v in sorted(verdicts.items())) or "-"
        row = Counter()
        for r in done:
            for key in ("ops", "acknowledged", "unknown", "lost", "duplicated"):
                row[key] += r.get(key, 0)
        total.update(row)
        total["runs"] += len(runs)
        total["incomplete"] += len(runs) - len(done)
        total["nonlinearizable"] += sum(1 for r in done if r.get("violations", 0)
                                        and r["violations"] - r["lost"] - r["duplicated"] > 0)
        top = "; ".join(f"{k} x{v}" for k, v in errors.most_common(2)) or "-"
        lines.append(f"{kind:16} {len(runs):>4} {row['ops']:>7} {row['acknowledged']:>6} "
                     f"{row['unknown']:>7} {row['lost']:>4} {row['duplicated']:>3} "
                     f"{verdict:>9} {percentile(spans, 0.5):>9.2f}s {max(spans or [0]):>5.2f}s"
                     f"  {top}")
    lines.append(f"runs={total['runs']} incomplete={total['incomplete']} ops={total['ops']} "
                 f"acknowledged={total['acknowledged']} unknown={total['unknown']}")
    stale = sum(r.get("stale_reads", 0) for r in results)
    reads = {k: sum(r.get(k, 0) for r in results) for k in ("reads", "reads_past_end",
                                                            "reads_failed")}
    lines.append(f"reads={reads['reads']} past_end={reads['reads_past_end']} "
                 f"failed={reads['reads_failed']} (past the end: answered once the leader "
                 "confirmed the end; failed: UNAVAILABLE or timed out, judged as no answer)")
    lines.append(f"reads that found nothing at an offset already acknowledged: {stale} (stale "
                 "reads: the checker judges every read, so each one fails its run)")
    for r in results:
        if not r["complete"] or r.get("violations"):
            lines.append(f"FAILED {r['kind']} seed {r['seed']} nodes {r['nodes']}: "
                         f"{r.get('error') or r.get('problems') or r.get('checker')}")
            lines.append(f"  replay: {r['replay']}  evidence: {r.get('evidence')}")
    # The last line is the verdict; a run that did not complete never passes for success.
    incomplete = f"incomplete={total['incomplete']} " if total["incomplete"] else ""
    lines.append(f"{incomplete}lost={total['lost']} duplicated={total['duplicated']} "
                 f"nonlinearizable={total['nonlinearizable']}")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    with open(out.with_suffix(".json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return text, total


class Context:
    pass


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="tests/chaos/run",
        description="Faults on real proglog clusters, judged by a linearizability checker.")
    parser.add_argument("--minutes", type=float, help="campaign: run nemeses until M minutes pass")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the run, or of the campaign's choices (default 1)")
    parser.add_argument("--quick", action="store_true", help="the fixed set `make test` runs")
    parser.add_argument("--nemesis", choices=NEMESES, help="one run of this nemesis")
    parser.add_argument("--nodes", type=int, choices=[3, 5], default=3)
    parser.add_argument("--cycles", type=int, default=2, help="faults per run")
    parser.add_argument("--kill-loop", type=int, metavar="N",
                        help="N cycles of kill -9 of a random node on 3 nodes under load")
    parser.add_argument("--inject", choices=["lost-ack", "stale-read"],
                        help="add this made-up anomaly to each history: the run must fail")
    parser.add_argument("--report", type=Path,
                        help="report file (default: BUILD_DIR/chaos/<time>-<pid>/report.txt)")
    parser.add_argument("--keep", action="store_true", help="keep logs of passing runs")
    args = parser.parse_args(argv)
    modes = sum(bool(x) for x in (args.minutes, args.quick, args.nemesis, args.kill_loop))
    if modes != 1:
        parser.error("give exactly one of --minutes, --quick, --nemesis, --kill-loop")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    require_privileges()
    binary()
    ctx = Context()
    ctx.keep = args.keep
    ctx.inject = args.inject
    work = build_dir() / "chaos"
    # One folder per invocation: ctest may run two at once.
    ctx.runs_dir = work / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    ctx.runs_dir.mkdir(parents=True)
    ctx.checker = build_checker(ctx.runs_dir)
    ctx.pb = harness.generate_stubs(Path(tempfile.mkdtemp(prefix="chaos-pb-")))

    results = []
    if args.quick:
        plan = iter([(k, s + args.seed - 1, n, 2) for k, s, n in QUICK_SET])
    elif args.nemesis:
        plan = iter([(args.nemesis, args.seed, args.nodes, args.cycles)])
    elif args.kill_loop:
        plan = iter([("kill-loop", args.seed, 3, args.kill_loop)])
    else:
        plan = campaign(args.seed, args.minutes)
    try:
        for kind, seed, nodes, cycles in plan:
            results.append(Run(kind, seed, nodes, cycles, ctx).execute())
    finally:
        Path(ctx.checker).unlink(missing_ok=True)
    out = args.report or ctx.runs_dir / "report.txt"
    text, total = report(results, out)
    print(text, end="")
    print(f"report: {out}", file=sys.stderr)
    bad = total["lost"] + total["duplicated"] + total["nonlinearizable"] + total["incomplete"]
    return 1 if bad or not results else 0


def campaign(seed, minutes):
    """Round robin over the nemeses, 3 and 5 nodes, more cycles, until time is up."""
    rng = random.Random(seed)
    deadline = time.monotonic() + minutes * 60
    i = 0
    while time.monotonic() < deadline:
        kind = NEMESES[i % len(NEMESES)]
        nodes = 5 if kind in ("split", "bridge", "isolate-leader") and rng.random() < 0.5 else 3
        yield kind, rng.randrange(1, 1 << 20), nodes, rng.randint(2, 4)
        i += 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as err:
        sys.exit(f"chaos: {err}")
