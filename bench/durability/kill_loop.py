"""Kill loop: restarts one `proglog serve` node under load with kill -9, over
and over, and checks after each restart that it serves again with every
acknowledged record at its offset. Prints how many restarts were refused and
how many acknowledged records were lost (both must be 0).

    python3 bench/durability/kill_loop.py --proglog-bin build/server/proglog --restarts 300

Load: a few producer threads (unary and ProduceStream, values of 1..4000
bytes); each kill comes at a random moment (seeded) after the first
acknowledgement of that run. After each restart every record acknowledged
since the previous check is read back, with a sample of 200 older ones.
Bounded by --restarts and --max-seconds.
"""
import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
import grpc  # noqa: E402

import harness  # noqa: E402


def producer(pb, stub, acked, lock, stop, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        values = [bytes([rng.randrange(256)]) * rng.randint(1, 4000)
                  for _ in range(rng.randint(1, 8))]
        try:
            if len(values) == 1:
                offsets = [stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=values[0])),
                                        timeout=5).offset]
            else:
                requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
                offsets = [r.offset for r in stub.ProduceStream(requests, timeout=5)]
        except grpc.RpcError:
            return  # the node died: what was acknowledged is recorded
        with lock:
            for offset, value in zip(offsets, values):
                acked[offset] = value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proglog-bin", required=True)
    parser.add_argument("--restarts", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--producers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["PROGLOG_BIN"] = str(Path(args.proglog_bin).resolve())
    pb = harness.generate_stubs(Path(tempfile.mkdtemp(prefix="kill-loop-stubs-")))
    rng = random.Random(args.seed)
    data = Path(tempfile.mkdtemp(prefix="kill-loop-")) / "data"
    port = harness.free_port()
    acked, lock = {}, threading.Lock()
    checked = set()  # offsets verified after a restart at least once
    refused = lost = restarts = 0
    started = time.monotonic()
    while restarts < args.restarts and time.monotonic() - started < args.max_seconds:
        node = harness.Node(data, "--node-name", "k", "--bootstrap", rpc_port=port)
        node.start()
        try:
            node.wait_serving()
        except AssertionError as error:
            refused += 1
            print(f"restart {restarts}: refused to start:\n{error}", file=sys.stderr)
            break
        with harness.channel(node.rpc_addr) as ch:
            stub = pb.log_grpc.LogStub(ch)
            # Every record acknowledged since the last check, and a sample of
            # the older ones (each was checked in full once already).
            with lock:
                expected = dict(acked)
            fresh = [o for o in expected if o not in checked]
            older = rng.sample(sorted(checked), min(200, len(checked)))
            for offset in fresh + older:
                value = expected[offset]
                got = harness.value_at(pb, stub, offset)
                if got != value:
                    lost += 1
                    print(f"restart {restarts}: offset {offset} lost or changed", file=sys.stderr)
            checked.update(fresh)
            stop = threading.Event()
            threads = [threading.Thread(target=producer,
                                        args=(pb, stub, acked, lock, stop, rng.random()))
                       for _ in range(args.producers)]
            for t in threads:
                t.start()
            harness.poll(lambda: len(acked) > len(expected), 30, "a first acknowledgement")
            time.sleep(rng.uniform(0, 0.2))
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=30)
        restarts += 1
    print(f"kill loop: {restarts} restarts, {refused} refused starts, {lost} acknowledged "
          f"records lost or changed, {time.monotonic() - started:.0f} s")
    return 0 if refused == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
