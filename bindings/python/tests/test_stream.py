"""Streams: tailing, closing, a server that goes away, Ctrl-C, the GIL."""

import signal
import subprocess
import sys
import threading
import time

import pytest

import proglog

from conftest import ServerProcess, poll


def test_stream_yields_old_records_then_follows_the_tail(client: proglog.Client) -> None:
    client.produce_many([b"r0", b"r1"])
    got = []
    with client.stream(0) as stream:
        for record in stream:
            got.append(record)
            if record.offset == 1:
                # Nothing at offset 2 yet: the stream must wait for it.
                threading.Thread(target=client.produce, args=(b"r2",)).start()
            if record.offset == 2:
                break
    assert [(r.offset, r.value) for r in got] == [(0, b"r0"), (1, b"r1"), (2, b"r2")]


def test_stream_next_times_out_with_none(client: proglog.Client) -> None:
    with client.stream(0) as stream:
        assert stream.next(timeout=0.05) is None
        client.produce(b"late")
        record = stream.next(timeout=10)
        assert record is not None and record.value == b"late"


def test_closing_a_stream_from_another_thread_ends_iteration(client: proglog.Client) -> None:
    stream = client.stream(0)
    seen: list[proglog.Record] = []
    consumer = threading.Thread(target=lambda: seen.extend(stream))
    consumer.start()
    client.produce(b"one")
    poll(lambda: len(seen) == 1, 10, "the first record")
    stream.close()
    consumer.join(timeout=10)
    assert not consumer.is_alive()
    assert [r.value for r in seen] == [b"one"]


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_server_going_away_mid_stream_raises_unavailable(server: ServerProcess,
                                                         client: proglog.Client,
                                                         how: str) -> None:
    client.produce(b"r0")
    with client.stream(0) as stream:
        assert next(stream).value == b"r0"
        getattr(server, how)()  # killed at once, or a graceful stop
        started = time.monotonic()
        with pytest.raises(proglog.Unavailable) as info:
            next(stream)
        assert time.monotonic() - started < 30
        assert info.value.retryable


def test_a_waiting_stream_releases_the_gil(client: proglog.Client) -> None:
    stream = client.stream(0)
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(stream.next(timeout=None)))
    waiter.start()
    # If the waiting thread held the GIL, this thread could not run to produce.
    client.produce(b"wake")
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    assert result == [proglog.Record(b"wake", 0)]
    stream.close()


_CTRL_C_SCRIPT = """
import sys, proglog
client = proglog.Client([sys.argv[1]])
try:
    stream = client.stream(0)
    print("streaming", flush=True)  # inside try: a SIGINT from here on is caught
    if sys.argv[2] == "iterate":
        for record in stream:
            pass
    else:
        stream.next(timeout=None)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
"""


@pytest.mark.parametrize("how", ["iterate", "next"])
def test_ctrl_c_interrupts_a_waiting_stream(server: ServerProcess, how: str) -> None:
    assert server.address is not None
    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C_SCRIPT, server.address, how],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "streaming"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    assert "interrupted" in out
