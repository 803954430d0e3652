"""After healing: read every node's whole log, compare them with each other and with what
the clients saw, and hand the history to the linearizability checker."""

import bisect
import json
import subprocess
import time
from collections import Counter, defaultdict

import grpc

from net import HarnessError

CATCH_UP_TIMEOUT = 60.0


def barrier(workload, cluster, timeout=60.0):
    """Produces one last record through the leader; returns its offset."""
    deadline = time.monotonic() + timeout
    attempt = 0
    target = cluster.rpc_addr(cluster.wait_healthy(timeout))
    while time.monotonic() < deadline:
        entry, hint = workload.produce(999, f"{workload.run_id}-barrier-{attempt}", target)
        attempt += 1
        if entry["status"] == "ok":
            return entry["offset"]
        target = hint or cluster.rpc_addr(cluster.leader() or cluster.net.names[0])
        time.sleep(0.1)
    raise HarnessError(f"no produce succeeded within {timeout}s after healing")


def read_log(cluster, name, last):
    """Every record 0..last on `name`, once it has `last`."""
    stub = cluster.stub(name)
    pb = cluster.pb
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while True:
        try:
            stub.Consume(pb.log.ConsumeRequest(offset=last), timeout=2)
            break
        except grpc.RpcError as err:
            if time.monotonic() > deadline:
                raise HarnessError(f"node {name} did not catch up to offset {last} within "
                                   f"{CATCH_UP_TIMEOUT}s after healing ({err.code().name})")
            time.sleep(0.1)
    records = []
    call = stub.ConsumeStream(pb.log.ConsumeRequest(offset=0), timeout=120)
    try:
        for reply in call:
            records.append((reply.record.offset, reply.record.value.decode()))
            if reply.record.offset >= last:
                break
    finally:
        call.cancel()
    return records


def check_logs(workload, logs, last):
    """Structural checks; returns (counters, problems, the agreed log)."""
    problems = []
    counters = Counter()
    acked = {e["value"]: e["offset"] for e in workload.history
             if e["op"] == "append" and e["status"] == "ok"}
    sent = workload.sent
    reference = None
    lost = set()  # acknowledged values missing from at least one node
    duplicated = set()  # values at more than one offset on some node
    for name, records in sorted(logs.items()):
        offsets = [o for o, _ in records]
        if offsets != list(range(last + 1)):
            counters["holes"] += 1
            problems.append(f"{name}: offsets are not dense 0..{last}: first mismatch at "
                            f"{next((i for i, o in enumerate(offsets) if o != i), len(offsets))}")
        values = dict(records)
        seen = Counter(v for _, v in records)
        for value, count in seen.items():
            if count > 1:
                duplicated.add(value)
                problems.append(f"{name}: value {value} at {count} offsets")
            if value not in sent:
                counters["phantom"] += 1
                problems.append(f"{name}: value {value} that no client sent")
        for value, offset in acked.items():
            if values.get(offset) != value:
                lost.add(value)
                problems.append(f"{name}: acknowledged {value} at {offset}, found "
                                f"{values.get(offset)!r}")
        if reference is None:
            reference = values
        else:
            for offset in set(reference) | set(values):
                if reference.get(offset) != values.get(offset):
                    counters["diverged"] += 1
                    problems.append(f"{name}: offset {offset} holds {values.get(offset)!r}, "
                                    f"another node {reference.get(offset)!r}")
                    break
    if lost:
        counters["lost"] = len(lost)
    if duplicated:
        counters["duplicated"] = len(duplicated)
    final = [reference.get(o, "") for o in range(last + 1)] if reference else []
    return counters, problems, final


def check_reads_and_streams(workload, final):
    counters = Counter()
    problems = []
    for e in workload.history:
        if e["op"] == "read" and e["status"] == "ok" and e.get("found"):
            if e.get("record_offset") != e["offset"]:
                counters["stream_or_read_misordered"] += 1
                problems.append(f"read of {e['offset']} on {e['node']} returned a record "
                                f"with offset {e.get('record_offset')}")
            if e["value"] not in workload.sent:
                counters["phantom"] += 1
                problems.append(f"read of {e['offset']} on {e['node']} returned {e['value']}, "
                                f"never sent")
    for node, start, received, _ in workload.streams:
        expected = start
        for offset, value in received:
            if offset != expected:
                counters["stream_skipped"] += 1
                problems.append(f"ConsumeStream on {node} from {start}: got {offset} after "
                                f"{expected - 1}")
                break
            if offset < len(final) and final[offset] != value:
                counters["stream_wrong_value"] += 1
                problems.append(f"ConsumeStream on {node}: {value} at {offset}, the log has "
                                f"{final[offset]}")
                break
            if value not in workload.sent:
                counters["phantom"] += 1
            expected += 1
    return counters, problems


def run_checker(checker_bin, history_path, timeout_s):
    try:
        result = subprocess.run([checker_bin, "--timeout", f"{timeout_s}s", str(history_path)],
                                capture_output=True, text=True, timeout=timeout_s + 60)
    except subprocess.TimeoutExpired as err:
        raise HarnessError(f"the checker did not finish within {timeout_s + 60}s") from err
    if result.returncode == 3:
        raise HarnessError(f"the checker timed out after {timeout_s}s on {history_path}")
    if result.returncode not in (0, 1):
        raise HarnessError(f"the checker failed ({result.returncode}): {result.stderr.strip()}")
    verdict = json.loads(result.stdout)
    return verdict


def write_history(workload, final, path):
    """The history as the checker reads it: every operation, reads that found nothing
    included (a node answers "past the end" only once the leader confirmed the end)."""
    end = time.monotonic_ns()
    with open(path, "w") as f:
        for e in workload.history:
            out = {k: e[k] for k in ("op", "status", "client", "node", "invoke", "complete")}
            if e["op"] == "append":
                out["value"] = e["value"]
                if e["status"] == "ok":
                    out["offset"] = e["offset"]
            else:
                out.update(offset=e["offset"], found=bool(e.get("found")),
                           value=e.get("value", ""))
            f.write(json.dumps(out) + "\n")
        f.write(json.dumps({"op": "final", "status": "ok", "client": 1000, "values": final,
                            "invoke": end, "complete": end}) + "\n")


def stale_reads(workload):
    """Reads that found nothing at an offset acknowledged before they began, by node:
    stale reads, counted in the report (the checker rejects any history with one)."""
    acks = sorted((e["complete"], e["offset"]) for e in workload.history
                  if e["op"] == "append" and e["status"] == "ok")
    times, highest, top = [], [], -1
    for complete, offset in acks:
        top = max(top, offset)
        times.append(complete)
        highest.append(top)
    stale = Counter()
    for e in workload.history:
        if e["op"] == "read" and e["status"] == "ok" and not e.get("found"):
            i = bisect.bisect_left(times, e["invoke"]) - 1
            if i >= 0 and highest[i] >= e["offset"]:
                stale[e["node"]] += 1
    return stale


def outages(workload):
    """Per producer: each stretch from the first failed produce after a success to the
    next success, as (seconds, errors seen)."""
    by_client = defaultdict(list)
    for e in workload.history:
        if e["op"] == "append" and e["client"] < 999:
            by_client[e["client"]].append(e)
    spans = []
    for ops in by_client.values():
        ops.sort(key=lambda e: e["invoke"])
        start, errors = None, Counter()
        for e in ops:
            if e["status"] == "ok":
                if start is not None:
                    spans.append(((e["complete"] - start) / 1e9, errors))
                    start, errors = None, Counter()
            else:
                if start is None:
                    start = e["invoke"]
                errors[e.get("error", "?")] += 1
    return spans
