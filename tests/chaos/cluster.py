"""`proglog` nodes, one per network namespace of a Network, each on its own small tmpfs
data dir (so one node's disk can be filled without touching the host's)."""

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import grpc

from disk import LoopDisk, Throttle
from net import HarnessError, sh

RPC_PORT = 8400
GOSSIP_PORT = 8401
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Channels come back quickly after a node restarts; the host's proxy settings never apply.
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 500),
                   ("grpc.enable_http_proxy", 0)]


def binary() -> str:
    path = os.environ.get("PROGLOG_BIN")
    if not path:
        build = os.environ.get("BUILD_DIR", str(Path(__file__).resolve().parents[2] / "build"))
        path = str(Path(build) / "server" / "proglog")
    path = str(Path(path).resolve())  # the node runs under `ip netns exec`
    if not os.access(path, os.X_OK):
        raise HarnessError(f"no proglog binary at {path}: build it (make build) or set "
                           "PROGLOG_BIN / BUILD_DIR")
    return path


class NodeProcess:
    """One run of `proglog` inside a namespace; its stderr goes to a log file."""

    def __init__(self, args, log_path: Path):
        self.log_path = log_path
        self.serving = threading.Event()
        self._log = open(log_path, "a", buffering=1)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self._log.write(line)
            if not self.serving.is_set():
                try:
                    if json.loads(line).get("msg") == "serving":
                        self.serving.set()
                except ValueError:
                    pass
        self._log.close()

    def alive(self):
        return self.proc.poll() is None

    def wait_serving(self, name):
        deadline = time.monotonic() + START_TIMEOUT
        while not self.serving.wait(0.1):
            if not self.alive():
                self._reader.join(5)
                raise HarnessError(f"node {name} exited with {self.proc.returncode} before "
                                   f"serving; its log ({self.log_path}) ends:\n"
                                   + tail(self.log_path))
            if time.monotonic() > deadline:
                raise HarnessError(f"node {name} did not log `serving` within "
                                   f"{START_TIMEOUT}s; see {self.log_path}")

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return code


def tail(path: Path, lines=15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return str(err)


class Cluster:
    def __init__(self, net, work_dir: Path, pb, disk_mib=64, block_devices=False):
        """block_devices: data dirs on ext4 over loop devices (for the slow disk), else
        directly on each node's tmpfs."""
        self.block_devices = block_devices
        self.disks = {}  # name -> LoopDisk
        self.throttle = None
        self.net = net
        self.pb = pb
        self.work_dir = work_dir
        self.disk_mib = disk_mib
        self.procs = {}  # name -> NodeProcess (latest)
        self.paused = set()
        self.mounts = []
        self.fillers = {}
        self.started_once = set()
        self._channels = {}
        self._lock = threading.Lock()

    def disk_root(self, name):
        """Top of the file system that holds the node's data dir."""
        return self.disks[name].mount_point if name in self.disks else self.work_dir / name

    def data_dir(self, name):
        return self.disk_root(name) / "data"

    def rpc_addr(self, name):
        return f"{self.net.addr[name]}:{RPC_PORT}"

    def mount_disks(self):
        for name in self.net.names:
            mount_point = self.work_dir / name
            mount_point.mkdir(parents=True, exist_ok=True)
            try:
                sh("mount", "-t", "tmpfs", "-o", f"size={self.disk_mib}m", "tmpfs", mount_point)
            except HarnessError as err:
                raise HarnessError(f"cannot mount a tmpfs for {name} (needs CAP_SYS_ADMIN): "
                                   f"{err}") from err
            self.mounts.append(mount_point)
            if self.block_devices:
                self.disks[name] = LoopDisk(mount_point, self.disk_mib - 8)
        if self.block_devices:
            self.throttle = Throttle(self.net.tag)

    def start(self, name):
        args = ["ip", "netns", "exec", self.net.netns[name], binary(),
                "--data-dir", self.data_dir(name), "--node-name", name,
                "--rpc-port", RPC_PORT, "--bind-addr", f"{self.net.addr[name]}:{GOSSIP_PORT}",
                "--log-format", "json",
                # Small segments: they roll every few seconds under the workload, so a
                # filled disk is hit within a fault's hold (each segment reserves its space
                # up front) and rolling itself runs under every fault.
                "--segment-max-store-bytes", "128KiB"]
        if name == self.net.names[0] and name not in self.started_once:
            args.append("--bootstrap")
        else:
            others = [f"{self.net.addr[n]}:{GOSSIP_PORT}" for n in self.net.names if n != name]
            args += ["--start-join-addrs", ",".join(others)]
        self.started_once.add(name)
        proc = NodeProcess([str(a) for a in args], self.work_dir / f"{name}.log")
        self.procs[name] = proc
        self.paused.discard(name)
        return proc

    def start_all(self):
        self.mount_disks()
        first = self.net.names[0]
        self.start(first).wait_serving(first)
        for name in self.net.names[1:]:
            self.start(name)
        for name in self.net.names[1:]:
            self.procs[name].wait_serving(name)
        self.wait_healthy(timeout=60)

    def live(self):
        return [n for n, p in self.procs.items() if p.alive()]

    def kill(self, name):
        proc = self.procs[name]
        proc.signal(signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)
        self.paused.discard(name)

    def terminate(self, name):
        """SIGTERM and wait for a clean exit; a node that does not stop is an error."""
        proc = self.procs[name]
        proc.signal(signal.SIGCONT)
        proc.signal(signal.SIGTERM)
        try:
            code = proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.signal(signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)
            raise HarnessError(f"node {name} did not stop within {STOP_TIMEOUT}s of SIGTERM")
        return code

    def restart(self, name):
        if self.procs[name].alive():
            raise HarnessError(f"restart of {name}, which is still running")
        self.start(name).wait_serving(name)

    def pause(self, name):
        self.procs[name].signal(signal.SIGSTOP)
        self.paused.add(name)

    def resume(self, name):
        self.procs[name].signal(signal.SIGCONT)
        self.paused.discard(name)

    # --- disk ---------------------------------------------------------------------------
    def fill_disk(self, name):
        """Takes every free byte of the node's tmpfs."""
        path = self.disk_root(name) / "filler"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
            chunk = 1 << 20
            while free > 0:
                try:
                    os.posix_fallocate(fd, os.fstat(fd).st_size, min(chunk, free))
                except OSError:
                    if chunk <= 4096:
                        break
                    chunk //= 16
                    continue
                free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
        finally:
            os.close(fd)
        self.fillers[name] = path

    def free_disk(self, name):
        path = self.fillers.pop(name, None)
        if path:
            path.unlink(missing_ok=True)

    # --- client side --------------------------------------------------------------------
    def channel(self, addr):
        with self._lock:
            if addr not in self._channels:
                self._channels[addr] = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
            return self._channels[addr]

    def stub(self, name_or_addr):
        addr = self.rpc_addr(name_or_addr) if name_or_addr in self.net.addr else name_or_addr
        return self.pb.log_grpc.LogStub(self.channel(addr))

    def view(self, name, timeout=1.0):
        """GetServers of `name` as {id: is_leader}, or None."""
        try:
            reply = self.stub(name).GetServers(self.pb.log.GetServersRequest(), timeout=timeout)
        except grpc.RpcError:
            return None
        return {s.id: s.is_leader for s in reply.servers}

    def leader(self):
        """The node most live, unpaused nodes name as leader, or None."""
        votes = Counter()
        for name in self.live():
            if name in self.paused:
                continue
            view = self.view(name)
            if view:
                votes.update(n for n, is_leader in view.items() if is_leader)
        return votes.most_common(1)[0][0] if votes else None

    def healthy_leader(self):
        """The leader every node names, each listing every node, or None."""
        leader = None
        for name in self.net.names:
            if not self.procs.get(name) or not self.procs[name].alive() or name in self.paused:
                return None
            view = self.view(name)
            if view is None or set(view) != set(self.net.names):
                return None
            leaders = [n for n, is_leader in view.items() if is_leader]
            if len(leaders) != 1 or leader not in (None, leaders[0]):
                return None
            leader = leaders[0]
        return leader

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.healthy_leader()
            if leader:
                return leader
            time.sleep(0.1)
        views = {n: self.view(n) for n in self.net.names}
        raise HarnessError(f"the cluster did not agree on a leader listing every node within "
                           f"{timeout}s after healing; views: {views}")

    def close(self):
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()
        for name, proc in self.procs.items():
            proc.signal(signal.SIGCONT)
            proc.signal(signal.SIGKILL)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self.throttle:
            self.throttle.close()
        for disk in self.disks.values():
            disk.close()
        self.disks.clear()
        for mount_point in self.mounts:
            sh("umount", "-l", mount_point, check=False)
        self.mounts.clear()
