"""Delay, jitter (which reorders) and loss for the packets a network namespace sends,
done in user space through NFQUEUE, for kernels built without the `netem` qdisc.

Runs inside a namespace (`ip netns exec NS python3 netem.py --queue N ...`); the harness
adds the iptables rule that sends the namespace's outgoing packets to queue N. Each packet
is dropped with probability --loss, else released after --delay-ms plus a uniform draw in
[0, --jitter-ms): packets whose draws differ overtake each other, as with netem. Seeded.
"""
import argparse
import heapq
import random
import signal
import sys
import threading
import time

import fnfqueue


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0, help="drop probability, 0..1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    conn = fnfqueue.Connection()
    queue = conn.bind(args.queue)
    queue.set_mode(0xFFFF, fnfqueue.COPY_META)
    queue.set_maxlen(65536)
    pending = []  # heap of (release time, sequence, packet)
    cond = threading.Condition()
    stopping = threading.Event()

    def release_loop():
        while not stopping.is_set():
            with cond:
                while not pending and not stopping.is_set():
                    cond.wait(0.2)
                if stopping.is_set():
                    return
                due, _, packet = pending[0]
                wait = due - time.monotonic()
                if wait > 0:
                    cond.wait(wait)
                    continue
                heapq.heappop(pending)
            packet.accept()

    releaser = threading.Thread(target=release_loop, daemon=True)
    releaser.start()

    def stop(*_):
        stopping.set()
        conn.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("netem ready", flush=True)
    sequence = 0
    try:
        for packet in conn:
            if rng.random() < args.loss:
                packet.drop()
                continue
            due = time.monotonic() + (args.delay_ms + rng.random() * args.jitter_ms) / 1000.0
            sequence += 1
            with cond:
                heapq.heappush(pending, (due, sequence, packet))
                cond.notify()
    except Exception as err:  # closed by a signal
        if not stopping.is_set():
            print(f"netem: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
