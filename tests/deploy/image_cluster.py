"""Three nodes run from the image's root filesystem (deploy/image/build-rootfs.sh) form a
cluster. Each node is a host in its own network namespace; it runs under podman from the
imported image where podman works (`--network ns:`), otherwise chrooted into the root
filesystem as the image's user. Run by deploy/image/test-rootfs-cluster.sh (`make
image-test`), not by `make test`: building the root filesystem takes minutes."""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

import netns

RPC_PORT, GOSSIP_PORT = 8400, 8401
TIMEOUT = 90.0
UID = 65532


def podman_runs(image: str | None) -> bool:
    """Whether podman can run a container of `image` here (in some VMs it cannot set the
    container's rlimits or cgroups)."""
    if not image or shutil.which("podman") is None:
        return False
    run = subprocess.run(["podman", "run", "--rm", image, "--version"], capture_output=True,
                         text=True)
    if run.returncode != 0:
        print(f"podman cannot run {image} here: {run.stderr.strip()}; using chroots")
    return run.returncode == 0


def poll(condition, what: str):
    deadline = time.monotonic() + TIMEOUT
    last = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (subprocess.CalledProcessError, ValueError) as e:
            last = e
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


class ImageNode:
    def __init__(self, name, ns, ip, work: Path, image: str | None, rootfs: Path | None):
        self.name, self.ns, self.ip, self.image, self.rootfs = name, ns, ip, image, rootfs
        self.data = work / f"{name}-data"
        self.data.mkdir()
        os.chown(self.data, UID, UID)
        self.log_path = work / f"{name}.log"
        self.container = f"{ns}-{name}"
        self.proc = None

    def serve_args(self, bootstrap: bool, join: str | None) -> list[str]:
        args = ["serve", "--node-name", self.name, "--rpc-port", str(RPC_PORT),
                "--bind-addr", f"{self.ip}:{GOSSIP_PORT}", "--data-dir", "/var/lib/proglog"]
        if bootstrap:
            args.append("--bootstrap")
        if join:
            args += ["--start-join-addrs", join]
        return args

    def start(self, bootstrap=False, join=None):
        log = open(self.log_path, "a")
        if self.image:
            argv = ["podman", "run", "--rm", "--name", self.container,
                    "--network", f"ns:/run/netns/{self.ns}",
                    "--volume", f"{self.data}:/var/lib/proglog", "--read-only",
                    self.image, *self.serve_args(bootstrap, join)]
        else:
            # A private mount namespace (from `ip netns exec`) gets the node's volume, /proc
            # and /dev over the shared root filesystem; the node runs as the image's user.
            script = ('set -e; r="$1"; shift; mount --bind "$DATA" "$r/var/lib/proglog"; '
                      'mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; '
                      'exec chroot --userspec=65532:65532 "$r" "$@"')
            argv = ["ip", "netns", "exec", self.ns, "env", f"DATA={self.data}", "sh", "-c",
                    script, "node", str(self.rootfs), "/usr/bin/proglog",
                    *self.serve_args(bootstrap, join)]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def servers(self) -> list[dict]:
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, *self.client_prefix(), "servers", "--addr",
             f"{self.ip}:{RPC_PORT}", "--format", "json", "--timeout", "5s"],
            check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def client_prefix(self) -> list[str]:
        """The image's own binary as a client, run in this node's namespace."""
        if self.image:
            return ["podman", "exec", self.container, "/usr/bin/proglog"]
        return ["chroot", str(self.rootfs), "/usr/bin/proglog"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            if self.image:
                subprocess.run(["podman", "stop", "--time", "30", self.container],
                               capture_output=True)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def nodes():
    tar = Path(os.environ["PROGLOG_ROOTFS_TAR"])
    work = Path(tempfile.mkdtemp(prefix="proglog-image-"))
    image = os.environ.get("PROGLOG_IMAGE")
    image = image if podman_runs(image) else None
    rootfs = None
    if not image:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        with tarfile.open(tar) as t:
            t.extractall(rootfs, numeric_owner=True)
    print(f"running nodes with {'podman image ' + image if image else 'chroot ' + str(rootfs)}")
    net = netns.Network()
    started = []
    try:
        for i in range(3):
            ns, ip = net.add_host(f"n{i}")
            started.append(ImageNode(f"n{i}", ns, ip, work, image, rootfs))
        yield started
    finally:
        for n in started:
            n.stop()
            print(f"--- {n.name}\n{n.log_path.read_text(errors='replace')[-3000:]}")
        net.close()
        shutil.rmtree(work, ignore_errors=True)


def test_three_nodes_from_the_image_form_a_cluster(nodes):
    first = nodes[0]
    first.start(bootstrap=True)
    poll(lambda: first.servers(), "the bootstrap node to serve")
    for n in nodes[1:]:
        n.start(join=f"{first.ip}:{GOSSIP_PORT}")

    want = {f"{n.ip}:{RPC_PORT}" for n in nodes}

    def formed():
        leaders = set()
        for n in nodes:
            servers = n.servers()
            if {s["rpc_addr"] for s in servers} != want:
                return False
            leaders |= {s["id"] for s in servers if s["is_leader"]}
        return len(leaders) == 1

    poll(formed, "3 servers with one leader on every node")
    for n in nodes:
        owner = n.data.stat().st_uid
        assert owner == UID and (n.data / "raft").is_dir(), "the node writes as the image's user"
