"""Fixtures: an embedded node, and a server process (the real `proglog` binary
when PROGLOG_BIN names it, else an embedded node in a child Python process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Callable, Optional, TypeVar

import pytest

import proglog

START_TIMEOUT = 30.0
T = TypeVar("T")

# The Ctrl-C tests send SIGINT to child Pythons, which inherit an ignored
# SIGINT (as anything started in the background by a non-interactive shell
# has it) and would then never raise KeyboardInterrupt. A handler here is reset
# to the default in each child, where Python installs its own.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def poll(condition: Callable[[], Optional[T]], timeout: float, what: str) -> T:
    """Returns condition()'s first truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# A stand-in server when the binary is not built: the embedded node, in its own
# process so that killing it is a real "server goes away".
_EMBEDDED_SERVER = """
import signal, sys, proglog
node = proglog.Node(sys.argv[1], name="py", max_record_bytes=int(sys.argv[2]))
print(node.address, flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
node.close()
"""


class ServerProcess:
    """A proglog server in a child process, listening on a free loopback port."""

    MAX_RECORD_BYTES = 4096

    def __init__(self, data_dir: Path, server_args: Sequence[str] = (),
                 max_record_bytes: int = MAX_RECORD_BYTES, rpc_port: int = 0) -> None:
        binary = os.environ.get("PROGLOG_BIN")
        self.uses_binary = bool(binary and os.access(binary, os.X_OK))
        if (server_args or rpc_port) and not self.uses_binary:
            # The stand-in cannot serve TLS; these tests need the real server.
            raise AssertionError("PROGLOG_BIN must name the built `proglog` binary "
                                 "for tests that pass server flags")
        if self.uses_binary:
            args = [str(binary), "serve", "--bootstrap", "--data-dir", str(data_dir),
                    "--rpc-port", str(rpc_port),
                    "--node-name", "bin", "--log-format", "json",
                    # Gossip on a free port too: the default 8401 may be taken.
                    "--bind-addr", "127.0.0.1:0",
                    "--max-record-bytes", str(max_record_bytes), *server_args]
        else:
            args = [sys.executable, "-c", _EMBEDDED_SERVER, str(data_dir),
                    str(max_record_bytes)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.address: Optional[str] = None
        # The binary's gossip address, from its `gossip started` line.
        self.gossip_address: Optional[str] = None
        stream = self.proc.stderr if self.uses_binary else self.proc.stdout
        assert stream is not None
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()
        poll(lambda: self.address or self._failed(), START_TIMEOUT, "the server to start")
        if self.address is None:
            raise AssertionError("server exited early:\n" + "\n".join(self.lines))

    def _failed(self) -> bool:
        return self.proc.poll() is not None and not self._reader.is_alive()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.address is None:
                self.address = self._address_in(line)

    def _address_in(self, line: str) -> Optional[str]:
        if not self.uses_binary:
            return line.strip() or None
        try:
            event = json.loads(line)
        except ValueError:
            return None
        if isinstance(event, dict) and event.get("msg") == "gossip started":
            self.gossip_address = str(event["bind_addr"])
        if isinstance(event, dict) and event.get("msg") == "serving":
            return str(event["rpc_addr"])
        return None

    def kill(self) -> None:
        """The server goes away at once, without a graceful stop."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[proglog.Node]:
    with proglog.Node(str(tmp_path / "node"), max_record_bytes=4096) as node:
        yield node


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "server")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[proglog.Client]:
    assert server.address is not None
    with proglog.Client([server.address], timeout=10.0) as client:
        yield client


class SilentServer:
    """A TCP listener that accepts connections and never sends a byte: a call to
    it blocks until its deadline."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=10)
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
