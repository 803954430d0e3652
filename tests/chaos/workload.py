"""Clients in the root namespace: producers of unique values, readers by offset, and
ConsumeStream tailers. Every operation is recorded with its invoke and complete times
(one monotonic clock) and its outcome: ok, failed (certainly not applied) or unknown."""

import random
import re
import threading
import time

import grpc

PRODUCE_TIMEOUT = 1.5
READ_TIMEOUT = 1.0


def now():
    return time.monotonic_ns()


def error_class(err: grpc.RpcError) -> str:
    code = err.code().name if err.code() else "UNKNOWN"
    details = re.sub(r"/\S+/", "", (err.details() or "").split(";")[0])[:60]
    return f"{code}: {details}"


def leader_hint(err: grpc.RpcError):
    for key, value in err.trailing_metadata() or ():
        if key == "proglog-leader" and value:
            return value
    return None


class Workload:
    def __init__(self, cluster, run_id: str, seed: int, producers=3, readers=2, streamers=2):
        self.cluster = cluster
        self.pb = cluster.pb
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.n_producers, self.n_readers, self.n_streamers = producers, readers, streamers
        self.history = []  # dicts, as the checker reads them
        self.streams = []  # (node, start offset, [(offset, value)], error or None)
        self.max_acked = -1
        self.lock = threading.Lock()
        self.stop_writes = threading.Event()
        self.stop_streams = threading.Event()
        self.threads = []
        self.stream_calls = {}
        self.sent = set()

    def record(self, entry):
        with self.lock:
            self.history.append(entry)
            if entry["op"] == "append" and entry["status"] == "ok":
                self.max_acked = max(self.max_acked, entry["offset"])

    def start(self):
        client = 0
        for _ in range(self.n_producers):
            self._spawn(self._produce_loop, client, random.Random(self.rng.random()))
            client += 1
        for _ in range(self.n_readers):
            self._spawn(self._read_loop, client, random.Random(self.rng.random()))
            client += 1
        for _ in range(self.n_streamers):
            self._spawn(self._stream_loop, client, random.Random(self.rng.random()))
            client += 1

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    # --- producers ----------------------------------------------------------------------
    def produce(self, client, value, target):
        """One Produce; returns (entry, leader hint)."""
        entry = {"op": "append", "client": client, "value": value, "node": target,
                 "invoke": now()}
        with self.lock:
            self.sent.add(value)
        hint = None
        try:
            reply = self.cluster.stub(target).Produce(
                self.pb.log.ProduceRequest(record=self.pb.log.Record(value=value.encode())),
                timeout=PRODUCE_TIMEOUT)
            entry.update(status="ok", offset=reply.offset)
        except grpc.RpcError as err:
            # Per the commit-log contract only INVALID_ARGUMENT is certainly not applied;
            # any other error (a refusal included) may still be committed by a new leader.
            entry.update(status="failed" if err.code() == grpc.StatusCode.INVALID_ARGUMENT
                         else "unknown", error=error_class(err))
            hint = leader_hint(err)
        entry["complete"] = now()
        self.record(entry)
        return entry, hint

    def _produce_loop(self, client, rng):
        names = self.cluster.net.names
        target = self.cluster.rpc_addr(rng.choice(names))
        seq = 0
        while not self.stop_writes.is_set():
            entry, hint = self.produce(client, f"{self.run_id}-c{client}-{seq}", target)
            seq += 1
            if entry["status"] != "ok":
                target = hint or self.cluster.rpc_addr(rng.choice(names))
                time.sleep(0.05)

    # --- readers by offset -------------------------------------------------------------
    def _read_loop(self, client, rng):
        names = self.cluster.net.names
        while not self.stop_writes.is_set():
            name = rng.choice(names)
            with self.lock:
                top = self.max_acked
            offset = rng.randint(max(0, top - 20), top + 3) if top >= 0 else 0
            entry = {"op": "read", "client": client, "offset": offset, "node": name,
                     "invoke": now()}
            try:
                reply = self.cluster.stub(name).Consume(
                    self.pb.log.ConsumeRequest(offset=offset), timeout=READ_TIMEOUT)
                entry.update(status="ok", found=True, value=reply.record.value.decode(),
                             record_offset=reply.record.offset)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.OUT_OF_RANGE:
                    entry.update(status="ok", found=False)
                else:
                    entry.update(status="failed", error=error_class(err))
            entry["complete"] = now()
            self.record(entry)
            time.sleep(0.01)

    # --- ConsumeStream tailers ----------------------------------------------------------
    def _stream_loop(self, client, rng):
        names = self.cluster.net.names
        next_offset = 0
        while not self.stop_streams.is_set():
            name = rng.choice(names)
            received = []
            error = None
            call = self.cluster.stub(name).ConsumeStream(
                self.pb.log.ConsumeRequest(offset=next_offset))
            with self.lock:
                self.stream_calls[client] = call
            if self.stop_streams.is_set():
                call.cancel()
            try:
                for reply in call:
                    received.append((reply.record.offset, reply.record.value.decode()))
                    # A stream on a node cut off from the leader just waits: move on now
                    # and then so that every node's streams are exercised.
                    if len(received) >= 200 and rng.random() < 0.01:
                        call.cancel()
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.CANCELLED:
                    error = error_class(err)
            with self.lock:
                self.streams.append((name, next_offset, received, error))
            if received:
                next_offset = received[-1][0] + 1
            if not self.stop_streams.is_set():
                time.sleep(0.1)

    def rotate_streams(self):
        """Ends each open stream so that its tailer reconnects (to a random node)."""
        with self.lock:
            calls = list(self.stream_calls.values())
        for call in calls:
            call.cancel()

    def stop(self):
        self.stop_writes.set()
        self.stop_streams.set()
        self.rotate_streams()
        for thread in self.threads:
            thread.join(timeout=30)
            if thread.is_alive():
                raise RuntimeError("a client thread did not stop within 30s")
