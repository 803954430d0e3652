"""The rendered StatefulSet forms a cluster: three hosts in network namespaces run exactly
the command line and environment the chart gives pods 0..2 (the pod's headless DNS names
come from a hosts file each namespace sees), the real `proglog` binary as /usr/bin/proglog
would be, as the pod's user. Pod 1 is then deleted with its volume and comes back empty:
it must rejoin and catch up."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import chart
import netns

NAMESPACE = "plns"
RELEASE = "proglog"
START_TIMEOUT = 60.0


def binary() -> str:
    path = os.environ.get("PROGLOG_BIN")
    if not path:
        raise RuntimeError("set PROGLOG_BIN to the proglog binary (ctest does)")
    return path


def poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (subprocess.CalledProcessError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


# Runs in the pod's network namespace (and the private mount namespace `ip netns exec` makes):
# mounts the pod's volume at its mountPath, then drops to the pod's user.
MOUNT_AND_RUN = """
set -e
volume="$1"; target="$2"; shift 2
if [ ! -d "$target" ]; then
  mount -t tmpfs -o mode=755 pod-root "$(dirname "$target")"
  mkdir "$target"
fi
mount --bind "$volume" "$target"
exec "$@"
"""


class PodRunner:
    def __init__(self, net: netns.Network, root: Path, pod: chart.Pod, ns: str):
        self.net, self.pod, self.ns = net, pod, ns
        self.volume = root / f"{pod.name}-volume"
        self.bin_dir = root / "bin"
        self.log_path = root / f"{pod.name}.log"
        self.proc = None

    def create_volume(self):
        self.volume.mkdir()
        os.chown(self.volume, self.pod.uid, self.pod.fs_group)

    def start(self):
        env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "HOSTNAME": self.pod.name, "HOME": "/",
               **self.pod.env}
        argv = ["ip", "netns", "exec", self.ns, "/bin/sh", "-c", MOUNT_AND_RUN, "pod",
                str(self.volume), self.pod.data_mount,
                "setpriv", f"--reuid={self.pod.uid}", f"--regid={self.pod.gid}",
                "--clear-groups", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
                *self.pod.argv]
        # The pod's DNS record appears when the pod exists (publishNotReadyAddresses).
        self.net.publish(self.pod.ip, [self.fqdn(), self.pod.name])
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def fqdn(self) -> str:
        return self.pod.env["PROGLOG_ADVERTISE_HOST"]

    def stop(self):
        """What deleting the pod does: SIGTERM (after preStop), wait, DNS record gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                assert self.proc.wait(timeout=60) == 0, self.log()
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
        self.net.unpublish(self.pod.ip)

    def cmdline(self) -> list[str]:
        """The running proglog's argv (every step from `ip netns exec` on execs in place)."""
        raw = Path(f"/proc/{self.proc.pid}/cmdline").read_bytes()
        return raw.decode().split("\0")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, *args: str) -> str:
        """Runs `proglog` as a client inside this pod's namespace."""
        addr = f"{self.pod.ip}:{self.pod.ports['rpc']}"
        out = subprocess.run(["ip", "netns", "exec", self.ns, binary(), *args, "--addr", addr,
                              "--timeout", "5s"], check=True, capture_output=True, text=True)
        return out.stdout

    def servers(self) -> list[dict]:
        return json.loads(self.client("servers", "--format", "json"))


def formed(runners) -> bool:
    """Every pod lists all pods' advertised addresses, with the same single leader."""
    want = {f"{r.fqdn()}:{r.pod.ports['rpc']}" for r in runners}
    leaders = set()
    for r in runners:
        servers = r.servers()
        if {s["rpc_addr"] for s in servers} != want:
            return False
        leader = [s["id"] for s in servers if s["is_leader"]]
        if len(leader) != 1:
            return False
        leaders.add(leader[0])
    return len(leaders) == 1


@pytest.fixture
def cluster():
    why = netns.can_run()
    if why:
        pytest.fail(why)
    objects = chart.render(RELEASE, NAMESPACE, "replicas=3", "raft.electionTimeout=300ms")
    statefulset = chart.find(objects, "StatefulSet")
    root = Path(tempfile.mkdtemp(prefix="proglog-chart-"))
    root.chmod(0o755)
    (root / "bin").mkdir(mode=0o755)
    # The image's /usr/bin/proglog, found through PATH as in the container.
    shutil.copy(binary(), root / "bin" / "proglog")
    net = netns.Network()
    runners = []
    try:
        for ordinal in range(statefulset["spec"]["replicas"]):
            ns, addr = net.add_host(f"p{ordinal}")
            runner = PodRunner(net, root, chart.Pod(statefulset, ordinal, addr), ns)
            runner.create_volume()
            runners.append(runner)
        yield runners
    finally:
        for r in runners:
            try:
                r.stop()
            except AssertionError:
                pass
        net.close()
        shutil.rmtree(root, ignore_errors=True)


def start_in_order(runners):
    """OrderedReady: pod N starts once pod N-1 serves (its readiness probe passes)."""
    for r in runners:
        r.start()
        poll(lambda: r.servers(), START_TIMEOUT, f"{r.pod.name} to serve\n{r.log()}")


def test_rendered_statefulset_forms_a_cluster_and_a_wiped_pod_rejoins(cluster):
    runners = cluster
    assert runners[0].pod.uid != 0, "the chart runs pods as a non-root user"
    start_in_order(runners)
    poll(lambda: formed(runners), START_TIMEOUT, "3 servers with one leader on every pod")
    assert "--bootstrap" in runners[0].cmdline(), "pod 0 bootstraps the first start"
    for r in runners[1:]:
        assert "--bootstrap" not in r.cmdline() and "--start-join-addrs" in r.cmdline()

    leader = next(s["id"] for s in runners[0].servers() if s["is_leader"])
    by_name = {r.pod.name: r for r in runners}
    offsets = by_name[leader].client("produce", "before-wipe").split()
    assert offsets == ["0"]

    # Pod 1 is deleted and its PersistentVolumeClaim too; the StatefulSet recreates it empty.
    wiped = runners[1]
    wiped.stop()
    shutil.rmtree(wiped.volume)
    wiped.create_volume()
    wiped.start()
    poll(lambda: formed(runners), START_TIMEOUT, f"pod 1 to rejoin\n{wiped.log()}")
    poll(lambda: "before-wipe" in wiped.client("consume", "--offset", "0", "--count", "1"),
         START_TIMEOUT, "pod 1 to receive the record produced before the wipe")
    assert (wiped.volume / "raft").is_dir()
    assert "--bootstrap" not in wiped.cmdline(), "a wiped pod joins, never bootstraps"


def test_pod_0_that_lost_its_volume_joins_the_running_cluster_instead_of_bootstrapping(cluster):
    runners = cluster
    start_in_order(runners)
    poll(lambda: formed(runners), START_TIMEOUT, "3 servers with one leader on every pod")
    leader = next(s["id"] for s in runners[1].servers() if s["is_leader"])
    by_name = {r.pod.name: r for r in runners}
    assert by_name[leader].client("produce", "kept").split() == ["0"]

    first = runners[0]
    first.stop()
    shutil.rmtree(first.volume)
    first.create_volume()
    first.start()
    poll(lambda: formed(runners), START_TIMEOUT, f"pod 0 to rejoin\n{first.log()}")
    assert "--bootstrap" not in first.cmdline(), "a second cluster was bootstrapped"
    poll(lambda: "kept" in first.client("consume", "--offset", "0", "--count", "1"),
         START_TIMEOUT, "pod 0 to receive the log from the running cluster")
