"""The test network: one Linux bridge in the root namespace and one network namespace
per node, joined by veth pairs, on a /24 of 10.77.0.0/16 that nothing else on the host
uses. Faults are applied inside the node namespaces only: partitions with iptables DROP
rules in a chain of our own, delay/jitter/loss with netem (the qdisc when the kernel has it,
else netem.py over NFQUEUE). Clients stay in the root namespace and reach every node
through the bridge; faults never cut them off (they are the outside observers)."""

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETEM_QUEUE = 7


class HarnessError(RuntimeError):
    """The harness itself could not do its job: never a verdict about proglog."""


def sh(*args, check=True, netns=None):
    cmd = (["ip", "netns", "exec", netns] if netns else []) + [str(a) for a in args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise HarnessError(f"`{' '.join(cmd)}` failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def require_privileges():
    """Fails with what is missing, before anything is created."""
    if os.geteuid() != 0:
        raise HarnessError("the chaos harness needs root: CAP_NET_ADMIN to create network "
                           "namespaces, bridges, veths and iptables rules, CAP_SYS_ADMIN to "
                           "mount the nodes' tmpfs data dirs, CAP_KILL to stop and pause them")
    for tool, package in (("ip", "iproute2"), ("iptables", "iptables"), ("mount", "mount")):
        if shutil.which(tool) is None:
            raise HarnessError(f"`{tool}` is missing: install the Debian package {package} "
                               "(scripts/install-deps.sh does)")


def kernel_has_netem() -> bool:
    probe = f"cnp{os.getpid() % 100000}"
    if sh("ip", "link", "add", probe, "type", "dummy", check=False).returncode != 0:
        return False
    try:
        return sh("tc", "qdisc", "add", "dev", probe, "root", "netem", "delay", "1ms",
                  check=False).returncode == 0
    finally:
        sh("ip", "link", "del", probe, check=False)


def _used_subnets():
    used = set()
    for line in sh("ip", "-4", "-o", "addr", "show").stdout.splitlines():
        used.add(ipaddress.ip_interface(line.split()[3]).network)
    for line in sh("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        first = line.split()[0]
        if "/" in first or first[0].isdigit():
            try:
                used.add(ipaddress.ip_network(first, strict=False))
            except ValueError:
                pass
    return used


class Network:
    """Created by create(), removed by destroy(), which is safe to call more than once."""

    def __init__(self, n_nodes: int):
        self.tag = os.urandom(3).hex()  # unique names, whatever the run's seed
        self.bridge = f"cb{self.tag}"
        self.n_nodes = n_nodes
        self.names = [f"n{i}" for i in range(1, n_nodes + 1)]
        self.netns = {n: f"chaos-{self.tag}-{n}" for n in self.names}
        self.subnet = None
        self.addr = {}
        self.netem_procs = {}
        self.use_qdisc = kernel_has_netem()
        self._created = []  # undo actions, newest last

    def create(self):
        used = _used_subnets()
        for third in list(range(int(self.tag, 16) % 256, 256)) + list(range(0, 256)):
            candidate = ipaddress.ip_network(f"10.77.{third}.0/24")
            if not any(candidate.overlaps(u) for u in used):
                self.subnet = candidate
                break
        if self.subnet is None:
            raise HarnessError("no free /24 in 10.77.0.0/16 for the test network")
        hosts = list(self.subnet.hosts())
        gateway = hosts[0]
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
        except HarnessError as err:
            raise HarnessError(f"cannot create a bridge (needs CAP_NET_ADMIN): {err}") from err
        self._created.append(lambda: sh("ip", "link", "del", self.bridge, check=False))
        sh("ip", "addr", "add", f"{gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, name in enumerate(self.names, start=1):
            ns = self.netns[name]
            try:
                sh("ip", "netns", "add", ns)
            except HarnessError as err:
                raise HarnessError(f"cannot create network namespace {ns} (needs "
                                   f"CAP_SYS_ADMIN and a writable /run/netns): {err}") from err
            self._created.append(lambda ns=ns: sh("ip", "netns", "del", ns, check=False))
            host_end, node_end = f"cv{self.tag}{i}", f"cn{self.tag}{i}"
            sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end)
            self._created.append(lambda h=host_end: sh("ip", "link", "del", h, check=False))
            sh("ip", "link", "set", node_end, "netns", ns)
            sh("ip", "-n", ns, "link", "set", node_end, "name", "eth0")
            self.addr[name] = str(hosts[9 + i])
            sh("ip", "-n", ns, "addr", "add", f"{self.addr[name]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "link", "set", host_end, "master", self.bridge)
            sh("ip", "link", "set", host_end, "up")
            for chain, hook in (("CHAOS_CUT", "INPUT"), ("CHAOS_CUT", "OUTPUT"),
                                ("CHAOS_NETEM", "OUTPUT")):
                sh("iptables", "-N", chain, netns=ns, check=False)
                sh("iptables", "-A", hook, "-j", chain, netns=ns)
        return self

    # --- partitions -------------------------------------------------------------------
    def cut(self, a: str, b: str):
        """Drops every packet between nodes a and b, both ways, silently."""
        for here, there in ((a, b), (b, a)):
            ns, addr = self.netns[here], self.addr[there]
            sh("iptables", "-A", "CHAOS_CUT", "-s", addr, "-j", "DROP", netns=ns)
            sh("iptables", "-A", "CHAOS_CUT", "-d", addr, "-j", "DROP", netns=ns)

    def partition(self, *groups):
        """Cuts every link between nodes of different groups; nodes in no group keep
        all their links (a bridge node)."""
        for gi, g in enumerate(groups):
            for h in groups[gi + 1:]:
                for a in g:
                    for b in h:
                        self.cut(a, b)

    def heal_partitions(self):
        for ns in self.netns.values():
            sh("iptables", "-F", "CHAOS_CUT", netns=ns)

    # --- delay, jitter, loss ---------------------------------------------------------
    def impair(self, name, delay_ms, jitter_ms, loss, seed):
        ns = self.netns[name]
        if self.use_qdisc:
            sh("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay",
               f"{delay_ms}ms", f"{jitter_ms}ms", "loss", f"{loss * 100:.1f}%", netns=ns)
            return
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "netem.py"), "--queue",
             str(NETEM_QUEUE), "--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms),
             "--loss", str(loss), "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = proc.stdout.readline()
        if "netem ready" not in ready:
            proc.kill()
            raise HarnessError(f"netem.py did not start in {ns}: {ready}{proc.stdout.read()}")
        self.netem_procs[name] = proc
        # --queue-bypass: should netem.py die, packets pass instead of piling up.
        sh("iptables", "-A", "CHAOS_NETEM", "-o", "eth0", "-j", "NFQUEUE", "--queue-num",
           str(NETEM_QUEUE), "--queue-bypass", netns=ns)

    def heal_impairments(self):
        for name, ns in self.netns.items():
            if self.use_qdisc:
                sh("tc", "qdisc", "del", "dev", "eth0", "root", netns=ns, check=False)
            sh("iptables", "-F", "CHAOS_NETEM", netns=ns)
        for proc in self.netem_procs.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.netem_procs.clear()

    def destroy(self):
        for proc in self.netem_procs.values():
            proc.kill()
            proc.wait()
        self.netem_procs.clear()
        while self._created:
            self._created.pop()()
