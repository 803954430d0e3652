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
# mounts the pod's volumes at their mount paths, then runs the rest of the command line. A
# mount path missing on this machine is made in an overlay over its nearest existing parent,
# so the machine's own folders are never written. The overlay hides the hosts file that
# `ip netns exec` mounted, so that is mounted again.
MOUNT_AND_RUN = """
set -e
scratch="$1"; hosts="$2"; shift 2
make_mount_points() {
  n=0
  while [ "$1" != -- ]; do
    if [ ! -d "$2" ]; then
      parent="$2"
      while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
      n=$((n + 1))
      mkdir -p "$scratch/$n/upper" "$scratch/$n/work"
      mount -t overlay overlay -o "lowerdir=$parent,upperdir=$scratch/$n/upper,workdir=$scratch/$n/work" "$parent"
      mkdir -p "$2"
    fi
    shift 2
  done
}
# All mount points first: an overlay made after a bind mount below it would hide that mount.
make_mount_points "$@"
while [ "$1" != -- ]; do
  mount --bind "$1" "$2"
  shift 2
done
shift
mount --bind "$hosts" /etc/hosts
exec "$@"
"""


class PodRunner:
    def __init__(self, net: netns.Network, root: Path, pod: chart.Pod, ns: str,
                 secrets: dict[str, Path], client_tls: list[str]):
        self.net, self.pod, self.ns = net, pod, ns
        self.root = root
        self.volume = root / f"{pod.name}-volume"
        self.bin_dir = root / "bin"
        self.log_path = root / f"{pod.name}.log"
        self.secrets = secrets  # Secret name -> folder holding its files
        self.client_tls = client_tls
        self.proc = None
        self.runs = 0

    def create_volume(self):
        self.volume.mkdir()
        os.chown(self.volume, self.pod.uid, self.pod.fs_group)

    def in_pod(self, command: list[str]) -> list[str]:
        """`command` as the pod's container would run it: its network, volumes, user, env."""
        self.runs += 1
        scratch = self.root / f"{self.pod.name}-overlays-{self.runs}"
        mounts = [str(self.volume), self.pod.data_mount]
        for path, (secret, _) in self.pod.secret_mounts.items():
            mounts += [str(self.secrets[secret]), path]
        env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "HOSTNAME": self.pod.name, "HOME": "/",
               **self.pod.env}
        return ["ip", "netns", "exec", self.ns, "/bin/sh", "-c", MOUNT_AND_RUN, "pod",
                str(scratch), str(netns.Network.etc_dir(self.ns) / "hosts"), *mounts, "--",
                "setpriv", f"--reuid={self.pod.uid}", f"--regid={self.pod.gid}",
                f"--groups={self.pod.fs_group}", "env", "-i",
                *[f"{k}={v}" for k, v in env.items()], *command]

    def start(self):
        # The pod's DNS record appears when the pod exists (publishNotReadyAddresses).
        self.net.publish(self.pod.ip, [self.fqdn(), self.pod.name])
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.in_pod(self.pod.argv), stdout=log,
                                     stderr=subprocess.STDOUT)

    def readiness_probe_passes(self) -> bool:
        """Runs the rendered exec readiness probe inside the pod."""
        probe = subprocess.run(self.in_pod(self.pod.readiness_exec), capture_output=True,
                               text=True, timeout=30)
        if probe.returncode != 0:
            raise ValueError(f"probe failed: {probe.stdout}{probe.stderr}")
        return True

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
        addr = f"{self.fqdn()}:{self.pod.ports['rpc']}"
        out = subprocess.run(["ip", "netns", "exec", self.ns, binary(), *args, "--addr", addr,
                              "--timeout", "5s", *self.client_tls],
                             check=True, capture_output=True, text=True)
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


def make_secret(pki: Path, folder: Path, name: str, fs_group: int, mode: int):
    """A Secret volume as cert-manager's layout: tls.crt, tls.key, ca.crt (root-owned, group
    fsGroup, the volume's defaultMode)."""
    folder.mkdir(parents=True)
    for src, dst in [(f"{name}.pem", "tls.crt"), (f"{name}-key.pem", "tls.key"),
                     ("ca.pem", "ca.crt")]:
        shutil.copy(pki / src, folder / dst)
        os.chown(folder / dst, 0, fs_group)
        os.chmod(folder / dst, mode)


def make_cluster(*settings: str):
    why = netns.can_run()
    if why:
        pytest.fail(why)
    objects = chart.render(RELEASE, NAMESPACE, "replicas=3", "raft.electionTimeout=300ms",
                           *settings)
    statefulset = chart.find(objects, "StatefulSet")
    root = Path(tempfile.mkdtemp(prefix="proglog-chart-"))
    root.chmod(0o755)
    (root / "bin").mkdir(mode=0o755)
    # The image's /usr/bin/proglog, found through PATH as in the container.
    shutil.copy(binary(), root / "bin" / "proglog")
    pod0 = chart.Pod(statefulset, 0, "")
    secrets, client_tls = {}, []
    if pod0.secret_mounts:
        # What an operator makes with `proglog cert` (docs/deploy.md): one peer certificate
        # naming every pod's headless name, and a client certificate for this test.
        pki = root / "pki"
        domain = pod0.env["PROGLOG_ADVERTISE_HOST"].split(".", 1)[1]
        cert = [binary(), "cert"]
        subprocess.run([*cert, "ca", "--dir", str(pki)], check=True, capture_output=True)
        subprocess.run([*cert, "issue", "--dir", str(pki), "--role", "peer", "--cn", RELEASE,
                        "--name", "pods", "--host", f"*.{domain}"], check=True,
                       capture_output=True)
        subprocess.run([*cert, "issue", "--dir", str(pki), "--role", "client", "--cn", "test"],
                       check=True, capture_output=True)
        for secret, mode in set(pod0.secret_mounts.values()):
            secrets[secret] = root / "secrets" / secret
            make_secret(pki, secrets[secret], "pods", pod0.fs_group, mode)
        client_tls = ["--tls-ca-file", str(pki / "ca.pem"),
                      "--tls-cert-file", str(pki / "test-client.pem"),
                      "--tls-key-file", str(pki / "test-client-key.pem")]
    net = netns.Network()
    runners = []
    try:
        for ordinal in range(statefulset["spec"]["replicas"]):
            ns, addr = net.add_host(f"p{ordinal}")
            pod = chart.Pod(statefulset, ordinal, addr)
            runner = PodRunner(net, root, pod, ns, secrets, client_tls)
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


@pytest.fixture
def cluster():
    yield from make_cluster()


@pytest.fixture
def tls_cluster():
    yield from make_cluster("tls.enabled=true")


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


def test_rendered_statefulset_with_tls_forms_a_cluster_and_its_probe_passes(tls_cluster):
    runners = tls_cluster
    assert runners[0].pod.readiness_exec, "with TLS the readiness probe is a command"
    for r in runners:
        r.start()
        poll(lambda: r.readiness_probe_passes(), START_TIMEOUT,
             f"{r.pod.name}'s readiness probe\n{r.log()}")
    poll(lambda: formed(runners), START_TIMEOUT, "3 servers with one leader over TLS")
    log = runners[0].log()
    assert '"tls":"true"' in log and '"peer_tls":"true"' in log, log  # --log-format json
    # A client without a certificate is refused.
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(["ip", "netns", "exec", runners[0].ns, binary(), "servers", "--addr",
                        f"{runners[0].fqdn()}:8400", "--timeout", "3s"], check=True,
                       capture_output=True)
