"""The post-heal checks find each anomaly they look for (no cluster needed)."""
from types import SimpleNamespace

import verify


def workload(appends, streams=(), reads=()):
    history = [{"op": "append", "status": "ok", "client": 0, "value": v, "offset": o,
                "invoke": i, "complete": i + 1} for i, (v, o) in enumerate(appends)]
    history += list(reads)
    return SimpleNamespace(history=history, sent={v for v, _ in appends} | {"u"},
                           streams=list(streams))


def test_agreeing_complete_logs_pass():
    w = workload([("a", 0), ("b", 1)])
    log = [(0, "a"), (1, "b"), (2, "u")]
    counters, problems, final = verify.check_logs(w, {"n1": log, "n2": log}, 2)
    assert not counters and not problems and final == ["a", "b", "u"]


def test_a_lost_acknowledged_record_is_counted_on_each_node_missing_it():
    w = workload([("a", 0), ("b", 1)])
    counters, _, _ = verify.check_logs(w, {"n1": [(0, "a"), (1, "b")],
                                           "n2": [(0, "a"), (1, "u")]}, 1)
    assert counters["lost"] == 1 and counters["diverged"] == 1


def test_a_hole_a_duplicate_and_a_phantom_are_found():
    w = workload([("a", 0)])
    counters, _, _ = verify.check_logs(w, {"n1": [(0, "a"), (2, "a"), (3, "zz")]}, 3)
    assert counters["holes"] == 1 and counters["duplicated"] == 1 and counters["phantom"] == 1


def test_a_stream_that_skips_or_shows_another_value_is_found():
    w = workload([("a", 0), ("b", 1), ("c", 2)],
                 streams=[("n1", 0, [(0, "a"), (2, "c")], None),
                          ("n2", 1, [(1, "c")], None)])
    counters, problems = verify.check_reads_and_streams(w, ["a", "b", "c"])
    assert counters["stream_skipped"] == 1 and counters["stream_wrong_value"] == 1, problems


def test_an_outage_lasts_from_the_first_failure_to_the_next_success():
    w = SimpleNamespace(history=[
        {"op": "append", "client": 0, "status": "ok", "invoke": 0, "complete": 1},
        {"op": "append", "client": 0, "status": "unknown", "error": "E", "invoke": 2 * 10**9,
         "complete": 3 * 10**9},
        {"op": "append", "client": 0, "status": "ok", "invoke": 3 * 10**9,
         "complete": 5 * 10**9}])
    assert [(s, dict(e)) for s, e in verify.outages(w)] == [(3.0, {"E": 1})]


def test_a_read_that_misses_an_offset_acknowledged_before_it_began_is_stale():
    w = SimpleNamespace(history=[
        {"op": "append", "status": "ok", "offset": 0, "invoke": 1, "complete": 5},
        {"op": "read", "status": "ok", "found": False, "offset": 0, "invoke": 6,
         "complete": 7, "node": "n2"},
        {"op": "read", "status": "ok", "found": False, "offset": 0, "invoke": 2,
         "complete": 3, "node": "n1"}])
    assert verify.stale_reads(w) == {"n2": 1}
