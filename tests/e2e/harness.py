"""Runs real `proglog` processes for the end-to-end tests and talks to them.

The client code is generated at test time from proto/log/v1/log.proto with
grpcio-tools, so the tests exercise the wire contract exactly as any other
language's generated client would.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

import ports

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
    """Generates the Python modules for log.v1 (log.proto, batch.proto) and the probe
    protos into out_dir."""
    from grpc_tools import protoc

    builtin = Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"
    for proto_root, proto in (
        (PROTO_ROOT, PROTO_ROOT / "log/v1/log.proto"),
        (PROTO_ROOT, PROTO_ROOT / "log/v1/batch.proto"),
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
    stubs = Stubs(log_pb2, log_pb2_grpc, health_pb2, health_pb2_grpc, reflection_pb2,
                  reflection_pb2_grpc)
    # log.v1.Batch (batch.proto), our extension beside the original's service.
    stubs.batch = importlib.import_module("log.v1.batch_pb2")
    stubs.batch_grpc = importlib.import_module("log.v1.batch_pb2_grpc")
    return stubs


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
    """A TCP port for flags that cannot take 0 (tests/e2e/ports.py)."""
    return ports.free_port()


def free_gossip_port() -> int:
    """A port for a gossip address, which binds both TCP and UDP."""
    return ports.free_port(udp_too=True)


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
        self.gossip_addr = None

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
        serving = self.wait_for_event("serving")
        self.rpc_addr = serving["rpc_addr"]
        self.gossip_addr = serving.get("bind_addr")
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


def channel(addr: str, options=None) -> grpc.Channel:
    return grpc.insecure_channel(addr, options=options)


def run_cli(*args, input=None, env=None, timeout=60):
    """Runs the proglog binary to completion; returns the CompletedProcess."""
    return subprocess.run([binary(), *[str(a) for a in args]], input=input, capture_output=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


# Channels to cluster nodes come back quickly after their node restarts.
FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 100),
                  ("grpc.min_reconnect_backoff_ms", 100),
                  ("grpc.max_reconnect_backoff_ms", 1000)]


class Cluster:
    """Raft cluster nodes on loopback, each on fixed free ports (so that a node
    restarts on the same addresses): the first bootstraps, the others join it by
    gossip. `make_channel(addr)` opens client channels (plaintext by default);
    `node_args(name)` gives per-node flags (certificates, say)."""

    def __init__(self, base_dir, *args, make_channel=None, node_args=None, pb=None):
        self.base_dir = Path(base_dir)
        self.args = [str(a) for a in args]
        self.make_channel = make_channel or (lambda addr: channel(addr, FAST_RECONNECT))
        self.node_args = node_args or (lambda name: [])
        self.pb = pb
        self.nodes = {}  # name -> Node (the latest process for that name)
        self.history = []  # (name, Node) of every process started, restarts included
        self._ports = {}  # name -> (rpc port, gossip port)
        self._channels = {}  # rpc addr -> channel
        self._lock = threading.Lock()  # test threads share the channels

    def _node(self, name, join, bootstrap):
        rpc_port, gossip_port = self._ports[name]
        args = ["--node-name", name, "--bind-addr", f"127.0.0.1:{gossip_port}", *self.args,
                *[str(a) for a in self.node_args(name)]]
        if bootstrap:
            args.append("--bootstrap")
        if join:
            args += ["--start-join-addrs", ",".join(join)]
        return Node(self.base_dir / name, *args, rpc_port=rpc_port)

    def gossip_addr(self, name):
        return f"127.0.0.1:{self._ports[name][1]}"

    def start(self, *names, bootstrap=None):
        """Starts nodes; without a running node the first of `names` bootstraps."""
        started = []
        for name in names:
            self._ports.setdefault(name, (free_port(), free_gossip_port()))
            alive = [n for n in self.live() if n not in names]
            join = [self.gossip_addr(n) for n in alive]
            if not alive and not started and bootstrap is None:
                node = self._node(name, [], bootstrap=True)
                node.start().wait_serving()  # the others join its gossip
            else:
                if not join:
                    join = [self.gossip_addr(started[0])]
                node = self._node(name, join, bootstrap=bool(bootstrap))
                node.start()
            self.nodes[name] = node
            self.history.append((name, node))
            started.append(name)
        for name in started:
            self.nodes[name].wait_serving()
        return [self.nodes[n] for n in started]

    def restart(self, name):
        """Starts `name` again on its data dir and ports, joining the running nodes."""
        old = self.nodes[name]
        assert old.proc.poll() is not None, f"{name} is still running"
        self._drop_channel(old.rpc_addr)
        return self.start(name)[0]

    def live(self):
        return [n for n, node in list(self.nodes.items())
                if node.proc and node.proc.poll() is None]

    def stub(self, name):
        addr = self.nodes[name].rpc_addr
        with self._lock:
            if addr not in self._channels:
                self._channels[addr] = self.make_channel(addr)
            return self.pb.log_grpc.LogStub(self._channels[addr])

    def _drop_channel(self, addr):
        with self._lock:
            ch = self._channels.pop(addr, None)
        if ch is not None:
            ch.close()

    def servers(self, name, timeout=2.0):
        """GetServers of `name` as {id: (rpc_addr, is_leader)}, or None if it fails."""
        try:
            response = self.stub(name).GetServers(self.pb.log.GetServersRequest(),
                                                  timeout=timeout)
        except grpc.RpcError:
            return None
        return {s.id: (s.rpc_addr, s.is_leader) for s in response.servers}

    def agreed_leader(self, names=None):
        """The leader every one of `names` (default: the live nodes) lists with the
        same members, the live ones exactly, or None."""
        names = list(names or self.live())
        leader = None
        for name in names:
            view = self.servers(name)
            if view is None or set(view) != set(names):
                return None
            if any(view[n][0] != self.nodes[n].rpc_addr for n in names):
                return None
            leaders = [n for n, (_, is_leader) in view.items() if is_leader]
            if len(leaders) != 1 or leader not in (None, leaders[0]):
                return None
            leader = leaders[0]
        return leader

    def agreed_leader_among(self, names):
        """The leader every one of `names` reports, one of them, whatever else
        they list (members that left may linger), or None."""
        leader = None
        for name in names:
            view = self.servers(name, timeout=1)
            if not view:
                return None
            leaders = [n for n, (_, is_leader) in view.items() if is_leader]
            if len(leaders) != 1 or leaders[0] not in names or leader not in (None, leaders[0]):
                return None
            leader = leaders[0]
        return leader

    def wait_formed(self, names=None, timeout=START_TIMEOUT, voters=True):
        """Waits until GetServers on each node lists exactly `names` (default: the
        live nodes) with one leader they agree on, and (voters) until the leader
        has promoted each joiner; returns the leader's name."""
        names = list(names or self.live())
        leader = poll(lambda: self.agreed_leader(names), timeout,
                      f"GetServers on {names} to list them all with one leader", 0.05)
        if voters:
            poll(lambda: all(self.is_voter(n) for n in names), timeout,
                 f"every one of {names} to become a voter", 0.05)
            leader = poll(lambda: self.agreed_leader(names), timeout,
                          f"GetServers on {names} to agree on one leader", 0.05)
        return leader

    def is_voter(self, name):
        """Whether a leader has proposed `name` as a voter (it bootstrapped, or a
        leader logged promoting it); Raft state is not on the wire."""
        if any(e.get("msg") == "serving" and e.get("bootstrap") == "true"
               for n, node in self.history if n == name for e in list(node.events)):
            return True
        prefix = f"raft: promoting {name} "
        return any(str(e.get("msg", "")).startswith(prefix)
                   for _, node in self.history for e in list(node.events))

    def close(self):
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()
        for node in self.nodes.values():
            if node.proc and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait(timeout=STOP_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def value_at(pb, stub, offset):
    """The value stored at `offset`, or None while the node does not serve it."""
    try:
        return stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=RPC_TIMEOUT).record.value
    except grpc.RpcError:
        return None
