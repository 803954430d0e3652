"""Durability of a real proglog process: kill -9 under load, graceful SIGTERM,
and a full disk."""

import collections
import contextlib
import random
import signal
import subprocess
import threading

import grpc
import pytest

import harness

# Small segments so that the tests cross many segment boundaries.
SMALL_SEGMENTS = ("--segment-max-store-bytes", "64KiB", "--segment-max-index-bytes", "4KiB")


class Producers:
    """Threads producing unique values until stopped or failed; records every ack."""

    def __init__(self, pb, stub, streams, unary=1):
        self.pb, self.stub = pb, stub
        self.acked = {}  # offset -> value
        self.duplicates = []
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._stream, args=(i,), daemon=True)
                         for i in range(streams)]
        self._threads += [threading.Thread(target=self._unary, args=(streams + i,), daemon=True)
                          for i in range(unary)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def count(self):
        with self._lock:
            return len(self.acked)

    def _ack(self, offset, value):
        with self._lock:
            if offset in self.acked:
                self.duplicates.append(offset)
            self.acked[offset] = value

    def _fail(self, error):
        with self._lock:
            self.errors.append(error.code())

    def _values(self, seed):
        rng = random.Random(seed)
        for i in range(1_000_000):
            yield f"p{seed}-{i}-".encode() + rng.randbytes(rng.randint(0, 400))

    def _stream(self, seed):
        sent = collections.deque()

        def requests():
            for value in self._values(seed):
                if self._stop.is_set():
                    return
                sent.append(value)
                yield self.pb.log.ProduceRequest(record=self.pb.log.Record(value=value))

        try:
            for response in self.stub.ProduceStream(requests(), timeout=120):
                self._ack(response.offset, sent.popleft())
        except grpc.RpcError as error:
            self._fail(error)

    def _unary(self, seed):
        for value in self._values(seed):
            if self._stop.is_set():
                return
            request = self.pb.log.ProduceRequest(record=self.pb.log.Record(value=value))
            try:
                self._ack(self.stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset, value)
            except grpc.RpcError as error:
                self._fail(error)
                return

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=harness.STOP_TIMEOUT)
            assert not t.is_alive(), "a producer did not end"


def read_all(pb, stub, count):
    """Records 0..count-1 through one ConsumeStream, checking offsets are dense."""
    stream = stub.ConsumeStream(pb.log.ConsumeRequest(offset=0), timeout=120)
    values = []
    for response in stream:
        assert response.record.offset == len(values)
        values.append(response.record.value)
        if len(values) == count:
            break
    stream.cancel()
    return values


def assert_all_acknowledged_present(pb, stub, acked):
    assert acked, "nothing was acknowledged"
    stored = read_all(pb, stub, max(acked) + 1)
    lost = [offset for offset, value in acked.items() if stored[offset] != value]
    assert not lost, f"{len(lost)} acknowledged records lost or changed, e.g. offset {lost[0]}"


def test_kill_9_while_producing_loses_no_acknowledged_record(pb, tmp_path):
    node = harness.Node(tmp_path / "data", "--fsync", "always", *SMALL_SEGMENTS)
    with node, harness.channel(node.rpc_addr) as ch:
        producers = Producers(pb, pb.log_grpc.LogStub(ch), streams=4).start()
        harness.poll(lambda: producers.count() >= 3000, 120, "3000 acknowledged records")
        node.proc.kill()  # SIGKILL while the producers are still sending
        assert node.proc.wait(timeout=harness.STOP_TIMEOUT) == -signal.SIGKILL
        producers.stop()
    assert not producers.duplicates
    assert producers.errors, "the producers should have seen the server die"

    # Restart on the same data dir with the same flags.
    with node, harness.channel(node.rpc_addr) as ch:
        assert_all_acknowledged_present(pb, pb.log_grpc.LogStub(ch), producers.acked)


def test_sigterm_while_streaming_ends_streams_and_exits_0(pb, tmp_path):
    node = harness.Node(tmp_path / "data", *SMALL_SEGMENTS)
    with node, harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        producers = Producers(pb, stub, streams=2).start()
        harness.poll(lambda: producers.count() >= 200, 60, "200 acknowledged records")
        tail = stub.ConsumeStream(pb.log.ConsumeRequest(offset=0), timeout=120)
        consumed, ending = [], []

        def follow():
            try:
                for response in tail:
                    consumed.append(response.record.offset)
                ending.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                ending.append(error.code())

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        harness.poll(lambda: len(consumed) >= 200, 60, "the tail to catch up")

        assert node.stop(signal.SIGTERM) == 0, node.output()
        follower.join(timeout=harness.STOP_TIMEOUT)
        assert not follower.is_alive(), "ConsumeStream did not end on shutdown"
        assert ending[0] in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE,
                             grpc.StatusCode.CANCELLED), ending
        producers.stop()
        assert node.wait_for_event("stopped", timeout=1)
        assert consumed == list(range(len(consumed)))

    with node, harness.channel(node.rpc_addr) as ch:
        assert_all_acknowledged_present(pb, pb.log_grpc.LogStub(ch), producers.acked)


def test_sigint_stops_an_idle_node_cleanly(tmp_path):
    node = harness.Node(tmp_path / "data")
    with node:
        assert node.stop(signal.SIGINT) == 0
        assert node.wait_for_event("stopped", timeout=1)["level"] == "info"


@contextlib.contextmanager
def small_tmpfs(path, size):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def test_disk_full_is_resource_exhausted_and_loses_nothing(pb, tmp_path):
    with small_tmpfs(tmp_path / "small", "1m") as mount:
        node = harness.Node(mount / "data", "--segment-max-store-bytes", "128KiB",
                            "--segment-max-index-bytes", "8KiB")
        value_size = 4096
        acked = {}
        with node, harness.channel(node.rpc_addr) as ch:
            stub = pb.log_grpc.LogStub(ch)
            failure = None
            for i in range(1000):  # 1000 x 4 KiB cannot fit in 1 MiB
                value = i.to_bytes(4, "big") * (value_size // 4)
                request = pb.log.ProduceRequest(record=pb.log.Record(value=value))
                try:
                    acked[stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset] = value
                except grpc.RpcError as error:
                    failure = error
                    break
            assert failure is not None, "the disk never filled up"
            assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, failure
            assert len(acked) > 10
            # Still full: further produces fail the same way; reads keep working.
            for _ in range(3):
                with pytest.raises(grpc.RpcError) as error:
                    stub.Produce(request, timeout=harness.RPC_TIMEOUT)
                assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert_all_acknowledged_present(pb, stub, acked)
            assert node.stop() == 0, node.output()

        subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
        with node, harness.channel(node.rpc_addr) as ch:
            stub = pb.log_grpc.LogStub(ch)
            assert_all_acknowledged_present(pb, stub, acked)
            # The failed appends left no hole: the next offset follows the last ack.
            assert stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset == len(acked)
            node.stop()


def fill_and_stop(pb, node, count):
    """Produces `count` records through `node`, stops it cleanly, returns the values."""
    values = [f"record-{i:04d}-".encode() * 8 for i in range(count)]
    with node, harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
        assert [r.offset for r in stub.ProduceStream(requests, timeout=60)] == list(range(count))
        assert node.stop() == 0
    return values


def only_store_file(data_dir):
    stores = list(data_dir.rglob("*.store"))
    assert len(stores) == 1, stores
    return stores[0]


def test_corrupt_record_mid_file_refuses_start_naming_the_file(pb, tmp_path):
    node = harness.Node(tmp_path / "data")
    fill_and_stop(pb, node, 100)
    store = only_store_file(tmp_path / "data")
    data = bytearray(store.read_bytes())
    data[len(data) // 2] ^= 0xFF
    store.write_bytes(bytes(data))

    node.start()
    assert node.wait_exit() == 1
    assert store.name in node.output(), node.output()
    assert store.read_bytes() == bytes(data), "a refused start must not change the file"


def test_torn_tail_is_dropped_and_earlier_records_survive(pb, tmp_path):
    node = harness.Node(tmp_path / "data")
    values = fill_and_stop(pb, node, 100)
    store = only_store_file(tmp_path / "data")
    with open(store, "r+b") as f:
        f.truncate(store.stat().st_size - 5)  # tear the last record
    # As after a crash before that record's fsync: the last durable point the
    # log keeps beside its segments must not cover it (without the file, damage
    # in the last segment counts as a torn tail).
    (store.parent / "DURABLE").unlink()

    with node, harness.channel(node.rpc_addr) as ch:
        # The node says how much it dropped, and from which file.
        assert any(e["level"] == "warning" and "dropped" in e["msg"] and store.name in e["msg"]
                   for e in node.events), node.output()
        stub = pb.log_grpc.LogStub(ch)
        assert read_all(pb, stub, 99) == values[:99]
        with pytest.raises(grpc.RpcError) as error:
            stub.Consume(pb.log.ConsumeRequest(offset=99), timeout=harness.RPC_TIMEOUT)
        assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE
        request = pb.log.ProduceRequest(record=pb.log.Record(value=b"after"))
        assert stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset == 99


def store_bytes(data_dir):
    """Bytes of all store files; retention may remove one between listing and stat."""
    total = 0
    for path in data_dir.rglob("*.store"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass
    return total


def out_of_range(pb, stub, offset):
    try:
        stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=harness.RPC_TIMEOUT)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.OUT_OF_RANGE:
            return True
        raise
    return False


def test_retention_bytes_removes_oldest_segments_and_keeps_the_newest(pb, tmp_path):
    data_dir = tmp_path / "data"
    node = harness.Node(data_dir, "--segment-max-store-bytes", "16KiB", "--retention-bytes",
                        "64KiB", "--retention-check-interval", "100ms", "--fsync", "never")
    values = [i.to_bytes(4, "big") * 256 for i in range(400)]  # 400 KiB in all
    with node, harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
        assert len(list(stub.ProduceStream(requests, timeout=60))) == len(values)
        harness.poll(lambda: out_of_range(pb, stub, 0), 30, "retention to drop offset 0")
        harness.poll(lambda: store_bytes(data_dir) <= 64 * 1024 + 16 * 1024, 30,
                     "the log to shrink to the retention limit plus the active segment")
        # The newest records are kept, unchanged.
        for offset in (398, 399):
            response = stub.Consume(pb.log.ConsumeRequest(offset=offset),
                                    timeout=harness.RPC_TIMEOUT)
            assert response.record.value == values[offset]


def test_retention_age_removes_segments_whose_records_are_older(pb, tmp_path):
    node = harness.Node(tmp_path / "data", "--segment-max-store-bytes", "4KiB",
                        "--retention-age", "3s", "--retention-check-interval", "100ms")
    with node, harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        for i in range(20):  # 20 x 1 KiB: several segments
            stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"%04d" % i * 256)),
                         timeout=harness.RPC_TIMEOUT)
        assert not out_of_range(pb, stub, 0)
        harness.poll(lambda: out_of_range(pb, stub, 0), 30, "the old segments to expire")
        assert not out_of_range(pb, stub, 19), "the active segment is never removed"
