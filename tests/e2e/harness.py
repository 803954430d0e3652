"""Runs real `proglog` processes for the end-to-end tests and talks to them.

The client code is generated at test time from proto/log/v1/log.proto with
grpcio-tools, so the tests exercise the wire contract exactly as any other
language's generated client would.
"""

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
PROBE_PROTOS = Path(__file__).resolve().parent / "protos"

# Generous bounds: the machine is shared, and every wait polls a condition.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
RPC_TIMEOUT = 15.0


def binary() -> str:
    path = os.environ.get("PROGLOG_BIN")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"PROGLOG_BIN must name the built proglog binary (got {path!r})")
    return path


def generate_stubs(out_dir: Path):
    """Generates the Python modules for log.v1 and the probe protos into out_dir."""
    from grpc_tools import protoc

    builtin = Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"
    for proto_root, proto in (
        (PROTO_ROOT, PROTO_ROOT / "log/v1/log.proto"),
        (PROBE_PROTOS, PROBE_PROTOS / "probe_health.proto"),
        (PROBE_PROTOS, PROBE_PROTOS / "probe_reflection.proto"),
    ):
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{builtin}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            str(proto),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"grpc_tools.protoc failed for {proto}")
    sys.path.insert(0, str(out_dir))
    log_pb2 = importlib.import_module("log.v1.log_pb2")
    log_pb2_grpc = importlib.import_module("log.v1.log_pb2_grpc")
    health_pb2 = importlib.import_module("probe_health_pb2")
    health_pb2_grpc = importlib.import_module("probe_health_pb2_grpc")
    reflection_pb2 = importlib.import_module("probe_reflection_pb2")
    reflection_pb2_grpc = importlib.import_module("probe_reflection_pb2_grpc")
    return Stubs(log_pb2, log_pb2_grpc, health_pb2, health_pb2_grpc, reflection_pb2,
                 reflection_pb2_grpc)


class Stubs:
    def __init__(self, log_pb2, log_pb2_grpc, health_pb2, health_pb2_grpc, reflection_pb2,
                 reflection_pb2_grpc):
        self.log = log_pb2
        self.log_grpc = log_pb2_grpc
        self.health = health_pb2
        self.health_grpc = health_pb2_grpc
        self.reflection = reflection_pb2
        self.reflection_grpc = reflection_pb2_grpc


def free_port() -> int:
    """A port that was free a moment ago (for flags that cannot take 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_gossip_port() -> int:
    """A port free a moment ago for both TCP and UDP, as gossip binds both."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")


def poll(condition, timeout: float, what: str, interval: float = 0.02):
    """Returns condition()'s first truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Node:
    """One `proglog` process, with its stderr log collected line by line."""

    def __init__(self, data_dir, *args, env=None, rpc_port=0, subcommand=None):
        """data_dir None leaves it to the environment or config file."""
        self.data_dir = data_dir
        self.args = [binary()] + ([subcommand] if subcommand else [])
        self.args += ["--data-dir", str(data_dir)] if data_dir is not None else []
        self.args += ["--rpc-port", str(rpc_port), "--log-format", "json"]
        self.env = dict(os.environ, **(env or {}))
        # Gossip runs on every node: a free port unless the test chose one.
        if "--bind-addr" not in args and "PROGLOG_BIND_ADDR" not in self.env:
            self.args += ["--bind-addr", "127.0.0.1:0"]
        # A node alone must bootstrap its one-member cluster to take writes;
        # a node that joins others must not.
        joining = "--start-join-addrs" in args or "PROGLOG_START_JOIN_ADDRS" in self.env
        if "--bootstrap" not in args and not joining and "PROGLOG_BOOTSTRAP" not in self.env:
            self.args += ["--bootstrap"]
        self.args += [str(a) for a in args]
        self.proc = None
        self.lines = []
        self.events = []
        self._cond = threading.Condition()
        self._reader = None
        self.rpc_addr = None

    def start(self):
        self.lines, self.events = [], []
        self.proc = subprocess.Popen(self.args, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            with self._cond:
                self.lines.append(line)
                if isinstance(event, dict):
                    self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_event(self, msg, timeout=START_TIMEOUT):
        """Waits for a JSON log line with this message; fails early if the process ends."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("msg") == msg:
                        return event
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"proglog exited with {self.proc.returncode} before logging {msg!r}:\n"
                        + "\n".join(self.lines))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {msg!r} log line within {timeout}s:\n"
                                         + "\n".join(self.lines))
                self._cond.wait(min(remaining, 0.5))

    def wait_serving(self):
        self.rpc_addr = self.wait_for_event("serving")["rpc_addr"]
        return self

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT) -> int:
        """Sends `sig` and returns the exit code (negative for a signal death)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return code

    def wait_exit(self, timeout=START_TIMEOUT) -> int:
        """Waits for the process to end by itself; returns its exit code."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return code

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def __enter__(self):
        return self.start().wait_serving()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


def channel(addr: str) -> grpc.Channel:
    return grpc.insecure_channel(addr)


def run_cli(*args, input=None, env=None, timeout=60):
    """Runs the proglog binary to completion; returns the CompletedProcess."""
    return subprocess.run([binary(), *[str(a) for a in args]], input=input, capture_output=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)
