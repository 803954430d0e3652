"""Raft replication across real `proglog` processes on loopback: cluster
formation, leader redirects, failover under load, catch-up after a restart,
graceful leave, the sockets a node listens on, and peer mutual TLS."""

import os
import signal
import threading
import time

import grpc
import pytest

import harness

# Fast failover: a follower campaigns after 300-600 ms without a leader.
FAST = ("--raft-election-timeout", "300ms")
# Another node must lead within this long of the leader's death (generous: the
# machine is shared; the measured time is printed).
FAILOVER_BOUND = 10.0
LEADER_KEY = "proglog-leader"


def values_for(tag, count, size=100):
    """Distinct values: tag, index, then padding up to `size` bytes."""
    return [(f"{tag}-{i:06d}-".encode() * size)[:size] for i in range(count)]


def produce_stream(pb, stub, values, timeout=60):
    requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
    return [r.offset for r in stub.ProduceStream(requests, timeout=timeout)]


def produce(pb, stub, value):
    request = pb.log.ProduceRequest(record=pb.log.Record(value=value))
    return stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset


def produce_at_leader(pb, cluster, names, value, timeout=30):
    """Produces `value` at whichever of `names` leads, retrying while leadership
    settles: a refusal (UNAVAILABLE) or an entry a newer leader replaced
    (ABORTED) was never committed, so a retry cannot duplicate it."""
    deadline = time.monotonic() + timeout
    while True:
        leader = cluster.agreed_leader_among(names)
        try:
            if leader is not None:
                return produce(pb, cluster.stub(leader), value)
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
                raise
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"no leader among {names} took a produce in {timeout}s")
        time.sleep(0.05)


def has_offset(pb, stub, offset):
    """Whether `offset` is readable on this node (not yet: False)."""
    try:
        stub.Consume(pb.log.ConsumeRequest(offset=offset), timeout=5)
        return True
    except grpc.RpcError as error:
        if error.code() in (grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE,
                            grpc.StatusCode.DEADLINE_EXCEEDED):
            return False
        raise


def read_range(pb, stub, start, count, timeout=60):
    """(offset, value) of records start..start+count-1 through one ConsumeStream."""
    stream = stub.ConsumeStream(pb.log.ConsumeRequest(offset=start), timeout=timeout)
    records = []
    try:
        for response in stream:
            records.append((response.record.offset, response.record.value))
            if len(records) == count:
                break
    finally:
        stream.cancel()
    return records


def wait_replicated(pb, cluster, name, last_offset, timeout=60):
    harness.poll(lambda: has_offset(pb, cluster.stub(name), last_offset), timeout,
                 f"{name} to hold offset {last_offset}", 0.05)


def assert_holds(pb, cluster, name, expected, timeout=60):
    """`name` holds every record of `expected` ({offset: value}) at its offset."""
    assert expected, "nothing to check"
    last = max(expected)
    wait_replicated(pb, cluster, name, last, timeout)
    stored = dict(read_range(pb, cluster.stub(name), 0, last + 1))
    assert sorted(stored) == list(range(last + 1)), f"{name}: offsets are not dense"
    wrong = [o for o, v in expected.items() if stored.get(o) != v]
    assert not wrong, (f"{name}: {len(wrong)} of {len(expected)} records missing or changed, "
                       f"first at offset {min(wrong)}")


def refusal(pb, stub):
    """The RpcError of a Produce this node refuses (fails if it accepts)."""
    with pytest.raises(grpc.RpcError) as error:
        produce(pb, stub, b"to a follower")
    return error.value


def leader_hint(error):
    for key, value in error.trailing_metadata() or ():
        if key == LEADER_KEY:
            return value
    return None


def wait_new_leader(cluster, survivors, old, started):
    """Polls until the survivors agree on a leader other than `old`; returns
    (leader, seconds since `started`)."""
    def elected():
        leader = cluster.agreed_leader_among(survivors)
        return leader if leader and leader != old else None
    leader = harness.poll(elected, FAILOVER_BOUND, f"a leader among {survivors}", 0.02)
    return leader, time.monotonic() - started


class Producer:
    """One thread producing distinct values in ProduceStream batches to whichever
    node leads, following `proglog-leader` and GetServers through failovers;
    bounded by `limit` records and `seconds`. Records every acknowledgement."""

    def __init__(self, pb, cluster, tag, limit, seconds, batch=100):
        self.pb, self.cluster, self.tag = pb, cluster, tag
        self.limit, self.seconds, self.batch = limit, seconds, batch
        self.acked = {}  # offset -> value
        self.conflicts = []  # offsets acknowledged twice
        self.errors = []
        self.done = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def count(self):
        with self._lock:
            return len(self.acked)

    def snapshot(self):
        with self._lock:
            return dict(self.acked)

    def _leader(self):
        for name in self.cluster.live():
            view = self.cluster.servers(name, timeout=1)
            for member, (_, is_leader) in (view or {}).items():
                if is_leader and member in self.cluster.live():
                    return member
        return None

    def _run(self):
        deadline = time.monotonic() + self.seconds
        sent_total, leader = 0, None
        try:
            while (not self._stop.is_set() and sent_total < self.limit
                   and time.monotonic() < deadline):
                leader = leader or self._leader()
                if leader is None:
                    time.sleep(0.02)
                    continue
                count = min(self.batch, self.limit - sent_total)
                values = [f"{self.tag}-{sent_total + i:07d}".encode() * 4 for i in range(count)]
                sent_total += count
                try:
                    offsets = produce_stream(self.pb, self.cluster.stub(leader), values, 30)
                except grpc.RpcError as error:
                    offsets = []
                    self.errors.append(error.code())
                    hinted = leader_hint(error)
                    leader = next((n for n in self.cluster.live()
                                   if self.cluster.nodes[n].rpc_addr == hinted), None)
                    if leader is None:
                        time.sleep(0.02)
                with self._lock:
                    for offset, value in zip(offsets, values):
                        if offset in self.acked:
                            self.conflicts.append(offset)
                        self.acked[offset] = value
        finally:
            self.done.set()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the producer did not end"




# ---------------------------------------------------------------------------
# One three-node cluster shared by the tests that do not disturb it.


@pytest.fixture(scope="module")
def trio(pb, tmp_path_factory):
    with harness.Cluster(tmp_path_factory.mktemp("trio"), *FAST, pb=pb) as cluster:
        started = time.monotonic()
        cluster.start("n1", "n2", "n3")
        leader = cluster.wait_formed()
        print(f"3 nodes formed a cluster led by {leader} in {time.monotonic() - started:.2f}s")
        yield cluster


def test_three_nodes_form_a_cluster_and_replicate_to_every_follower(pb, trio):
    leader = trio.wait_formed()
    for name in trio.live():
        view = trio.servers(name)
        assert {n: addr for n, (addr, _) in view.items()} == {
            n: trio.nodes[n].rpc_addr for n in ("n1", "n2", "n3")}, (name, view)
        assert [n for n, (_, is_leader) in view.items() if is_leader] == [leader], (name, view)

    values = values_for("trio", 2000, 120)
    offsets = produce_stream(pb, trio.stub(leader), values)
    first = offsets[0]
    assert offsets == list(range(first, first + len(values)))
    expected = list(zip(offsets, values))
    for name in trio.live():
        wait_replicated(pb, trio, name, offsets[-1])
        assert read_range(pb, trio.stub(name), first, len(values)) == expected, name
        # Unary reads agree with the stream.
        for offset, value in (expected[0], expected[1000], expected[-1]):
            record = trio.stub(name).Consume(pb.log.ConsumeRequest(offset=offset),
                                             timeout=harness.RPC_TIMEOUT).record
            assert (record.offset, record.value) == (offset, value), name


def test_follower_refuses_produce_naming_the_leader(pb, trio):
    leader = trio.wait_formed()
    followers = [n for n in trio.live() if n != leader]
    assert len(followers) == 2
    for name in followers:
        error = refusal(pb, trio.stub(name))
        assert error.code() == grpc.StatusCode.UNAVAILABLE, (name, error)
        assert leader_hint(error) == trio.nodes[leader].rpc_addr, (
            name, error.trailing_metadata())
        # The streaming produce refuses the same way.
        with pytest.raises(grpc.RpcError) as streamed:
            produce_stream(pb, trio.stub(name), [b"to a follower"], timeout=harness.RPC_TIMEOUT)
        assert streamed.value.code() == grpc.StatusCode.UNAVAILABLE, (name, streamed.value)
        assert leader_hint(streamed.value) == trio.nodes[leader].rpc_addr, name
    # Nothing refused reached the log: the leader's next offset follows its last.
    assert produce(pb, trio.stub(leader), b"at the leader") >= 0


def test_cli_given_only_a_follower_writes_to_the_leader_and_reads(trio):
    leader = trio.wait_formed()
    follower = next(n for n in trio.live() if n != leader)
    addr = trio.nodes[follower].rpc_addr
    produced = harness.run_cli("produce", "--addr", addr, "via-follower-1", "via-follower-2")
    assert produced.returncode == 0, produced.stderr
    offsets = [int(line) for line in produced.stdout.split()]
    assert len(offsets) == 2 and offsets[1] == offsets[0] + 1
    consumed = harness.run_cli("consume", "--addr", addr, "--offset", offsets[0], "--count", 2)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.split() == [b"via-follower-1", b"via-follower-2"]
    servers = harness.run_cli("servers", "--addr", addr)
    assert servers.returncode == 0, servers.stderr
    assert f"{trio.nodes[leader].rpc_addr}\tleader".encode() in servers.stdout


def test_cli_pinned_to_a_follower_reports_the_leader_instead_of_following(trio):
    leader = trio.wait_formed()
    follower = next(n for n in trio.live() if n != leader)
    produced = harness.run_cli("produce", "--addr", trio.nodes[follower].rpc_addr,
                               "--read-from", "pinned", "not-written")
    assert produced.returncode == 1
    assert b"not the leader" in produced.stderr, produced.stderr
    assert trio.nodes[leader].rpc_addr.encode() in produced.stderr, produced.stderr


def tcp_listening_ports(pid):
    """Ports of the TCP sockets in LISTEN state that process `pid` holds."""
    return _socket_ports(pid, ("/proc/net/tcp", "/proc/net/tcp6"), "0A")


def udp_bound_ports(pid):
    """Local ports of the unconnected UDP sockets that process `pid` holds."""
    return _socket_ports(pid, ("/proc/net/udp", "/proc/net/udp6"), "07")


def _socket_ports(pid, tables, state):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in tables:
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_each_node_listens_on_its_rpc_port_and_gossip_port_only(trio):
    trio.wait_formed()
    for name in trio.live():
        node = trio.nodes[name]
        rpc_port = int(node.rpc_addr.rsplit(":", 1)[1])
        gossip_port = int(node.gossip_addr.rsplit(":", 1)[1])
        assert rpc_port != gossip_port
        assert tcp_listening_ports(node.proc.pid) == {rpc_port, gossip_port}, name
        assert udp_bound_ports(node.proc.pid) == {gossip_port}, name


# ---------------------------------------------------------------------------
# Failures, restarts and leaving: each test has its own cluster.


@pytest.fixture
def cluster(pb, tmp_path):
    with harness.Cluster(tmp_path, *FAST, pb=pb) as c:
        yield c


def test_kill_9_of_the_leader_under_load_fails_over_and_loses_nothing(pb, cluster):
    cluster.start("n1", "n2", "n3")
    old = cluster.wait_formed()
    producer = Producer(pb, cluster, "load", limit=40_000, seconds=60).start()
    try:
        harness.poll(lambda: producer.count() >= 1500 or producer.done.is_set(), 60,
                     "1500 acknowledged records before the kill")
        assert producer.count() >= 1500, f"producer ended early: {producer.errors}"
        before_kill = producer.count()
        killed = time.monotonic()
        cluster.nodes[old].proc.kill()
        assert cluster.nodes[old].proc.wait(timeout=harness.STOP_TIMEOUT) == -signal.SIGKILL
        survivors = cluster.live()
        leader, took = wait_new_leader(cluster, survivors, old, killed)
        print(f"kill -9 of leader {old}: {leader} leads after {took:.2f}s")
        # The cluster takes writes again, through the producer.
        harness.poll(lambda: producer.count() >= before_kill + 1000 or producer.done.is_set(),
                     30, "1000 more acknowledged records after the failover")
        assert producer.count() >= before_kill + 1000, f"no writes after failover: " \
                                                       f"{producer.errors}"
    finally:
        producer.stop()
    acked = producer.snapshot()
    assert not producer.conflicts, f"offsets acknowledged twice: {producer.conflicts[:10]}"
    print(f"{len(acked)} records acknowledged; producer errors: {sorted(set(map(str, producer.errors)))}")
    for name in survivors:
        assert_holds(pb, cluster, name, acked)

    # The old leader comes back on its data dir, rejoins and catches up.
    cluster.restart(old)
    assert cluster.wait_formed() in survivors + [old]
    assert_holds(pb, cluster, old, acked)
    # And it keeps following: a record produced now reaches it too.
    leader = cluster.wait_formed()
    offset = produce(pb, cluster.stub(leader), b"after the rejoin")
    wait_replicated(pb, cluster, old, offset)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL],
                         ids=["sigterm", "sigkill"])
def test_stopped_follower_catches_up_after_restart(pb, cluster, stop_signal):
    cluster.start("n1", "n2", "n3")
    leader = cluster.wait_formed()
    follower = next(n for n in ("n3", "n2", "n1") if n != leader)
    total = 10_000
    values = values_for("catchup", total, 64)
    acked = {}
    stopped = threading.Event()

    def stop_follower():
        code = cluster.nodes[follower].stop(stop_signal)
        assert code == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)
        stopped.set()

    chunk = 500
    stopper = None
    for start in range(0, total, chunk):
        part = values[start:start + chunk]
        offsets = produce_stream(pb, cluster.stub(leader), part)
        acked.update(zip(offsets, part))
        if start == 1000:  # stop the follower while the rest is produced
            stopper = threading.Thread(target=stop_follower, daemon=True)
            stopper.start()
    stopper.join(timeout=harness.STOP_TIMEOUT)
    assert stopped.is_set(), f"{follower} did not stop"
    assert sorted(acked) == list(range(min(acked), min(acked) + total))

    cluster.restart(follower)
    started = time.monotonic()
    assert_holds(pb, cluster, follower, acked, timeout=90)
    print(f"{follower} caught up {total} records {time.monotonic() - started:.2f}s after "
          f"its restart ({signal.Signals(stop_signal).name})")
    cluster.wait_formed()
    # Record by record through unary reads too, for a sample of offsets.
    stub = cluster.stub(follower)
    for offset in range(min(acked), max(acked) + 1, 997):
        record = stub.Consume(pb.log.ConsumeRequest(offset=offset),
                              timeout=harness.RPC_TIMEOUT).record
        assert (record.offset, record.value) == (offset, acked[offset])


def test_graceful_leave_of_a_follower_then_of_the_leader(pb, cluster):
    cluster.start("n1", "n2", "n3")
    leader = cluster.wait_formed()
    follower = next(n for n in ("n3", "n2", "n1") if n != leader)
    offsets = produce_stream(pb, cluster.stub(leader), values_for("leave", 200))

    started = time.monotonic()
    assert cluster.nodes[follower].stop(signal.SIGTERM) == 0
    rest = cluster.live()
    assert cluster.wait_formed(rest, voters=False) == leader
    print(f"follower {follower} left; the others list {rest} "
          f"{time.monotonic() - started:.2f}s after SIGTERM")

    started = time.monotonic()
    cluster.nodes[leader].proc.send_signal(signal.SIGTERM)
    survivor = next(n for n in rest if n != leader)
    new_leader, took = wait_new_leader(cluster, [survivor], leader, started)
    assert new_leader == survivor
    print(f"SIGTERM of leader {leader}: {survivor} leads after {took:.2f}s")
    assert cluster.nodes[leader].wait_exit(harness.STOP_TIMEOUT) == 0
    # Alone now, it lists itself only and takes writes.
    assert cluster.wait_formed([survivor], timeout=20, voters=False) == survivor
    offset = produce(pb, cluster.stub(survivor), b"alone")
    assert offset == offsets[-1] + 1


def test_sigterm_of_the_leader_hands_over_quickly(pb, cluster):
    cluster.start("n1", "n2", "n3")
    leader = cluster.wait_formed()
    offsets = produce_stream(pb, cluster.stub(leader), values_for("handover", 100))
    started = time.monotonic()
    cluster.nodes[leader].proc.send_signal(signal.SIGTERM)
    rest = [n for n in cluster.nodes if n != leader]
    new_leader, took = wait_new_leader(cluster, rest, leader, started)
    print(f"SIGTERM of leader {leader} in a 3-node cluster: {new_leader} leads after {took:.2f}s")
    assert cluster.nodes[leader].wait_exit(harness.STOP_TIMEOUT) == 0
    assert cluster.wait_formed(rest, timeout=20, voters=False) in rest
    assert produce_at_leader(pb, cluster, rest, b"after the handover") == offsets[-1] + 1


def test_five_nodes_replicate_and_agree(pb, cluster):
    names = ["n1", "n2", "n3", "n4", "n5"]
    cluster.start(*names)
    leader = cluster.wait_formed(timeout=45)
    values = values_for("five", 1000)
    offsets = produce_stream(pb, cluster.stub(leader), values)
    expected = dict(zip(offsets, values))
    for name in names:
        assert_holds(pb, cluster, name, expected)
    assert cluster.wait_formed() == leader
    views = {name: cluster.servers(name) for name in names}
    assert all(view == views[leader] for view in views.values()), views


# ---------------------------------------------------------------------------
# Mutual TLS for clients and between peers.


def cert(*args):
    result = harness.run_cli("cert", *args)
    assert result.returncode == 0, result
    return result


@pytest.fixture
def pki_dirs(tmp_path):
    good, other = tmp_path / "certs", tmp_path / "other-ca"
    cert("ca", "--dir", good)
    cert("issue", "--dir", good, "--role", "server", "--cn", "server", "--host", "127.0.0.1",
         "--host", "localhost")
    cert("issue", "--dir", good, "--role", "client", "--cn", "root")
    for name in ("n1", "n2", "n3"):
        cert("issue", "--dir", good, "--role", "peer", "--cn", name)
    cert("ca", "--dir", other, "--cn", "another cluster CA")
    cert("issue", "--dir", other, "--role", "peer", "--cn", "n4")
    return good, other


def tls_cluster(pb, base_dir, good, other):
    """A cluster with server and peer mutual TLS on every node; n4 (if started)
    holds a peer certificate of another CA, everything else from the cluster CA."""

    def node_args(name):
        peer_dir = other if name == "n4" else good
        return ["--server-tls-cert-file", good / "server.pem",
                "--server-tls-key-file", good / "server-key.pem",
                "--server-tls-ca-file", good / "ca.pem",
                "--peer-tls-cert-file", peer_dir / f"{name}-peer.pem",
                "--peer-tls-key-file", peer_dir / f"{name}-peer-key.pem",
                "--peer-tls-ca-file", peer_dir / "ca.pem"]

    credentials = grpc.ssl_channel_credentials(
        root_certificates=(good / "ca.pem").read_bytes(),
        private_key=(good / "root-client-key.pem").read_bytes(),
        certificate_chain=(good / "root-client.pem").read_bytes())

    def make_channel(addr):
        return grpc.secure_channel(addr, credentials, options=harness.FAST_RECONNECT)

    return harness.Cluster(base_dir, *FAST, pb=pb, make_channel=make_channel,
                           node_args=node_args)


def test_mutual_tls_cluster_forms_and_replicates(pb, tmp_path, pki_dirs):
    with tls_cluster(pb, tmp_path / "data", *pki_dirs) as cluster:
        cluster.start("n1", "n2", "n3")
        leader = cluster.wait_formed()
        serving = [e for n in cluster.nodes.values() for e in n.events
                   if e.get("msg") == "serving"]
        assert len(serving) == 3
        assert all(e.get("tls") == "true" and e.get("peer_tls") == "true" for e in serving)
        # A plaintext client gets nowhere.
        with harness.channel(cluster.nodes[leader].rpc_addr) as plain:
            with pytest.raises(grpc.RpcError) as error:
                pb.log_grpc.LogStub(plain).GetServers(pb.log.GetServersRequest(), timeout=5)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        values = values_for("tls", 1000)
        offsets = produce_stream(pb, cluster.stub(leader), values)
        expected = dict(zip(offsets, values))
        for name in ("n1", "n2", "n3"):
            assert_holds(pb, cluster, name, expected)
        follower = next(n for n in ("n1", "n2", "n3") if n != leader)
        error = refusal(pb, cluster.stub(follower))
        assert leader_hint(error) == cluster.nodes[leader].rpc_addr


def test_peer_with_a_certificate_of_another_ca_never_joins_raft(pb, tmp_path, pki_dirs):
    with tls_cluster(pb, tmp_path / "data", *pki_dirs) as cluster:
        cluster.start("n1", "n2", "n3")
        leader = cluster.wait_formed()
        # n4 joins gossip, so the leader adds it as a learner; its Raft
        # connections fail the TLS handshake.
        cluster.start("n4")
        harness.poll(lambda: any(str(e.get("msg")).startswith("raft: adding learner n4 ")
                                 for e in list(cluster.nodes[leader].events)),
                     20, "the leader to add n4 as a learner")

        def promoted():
            return "\n".join(e["msg"] for n in cluster.nodes.values() for e in n.events
                             if "n4" in str(e.get("msg")))
        # The cluster is idle (its log short) while a few reconcile rounds pass:
        # a learner the leader never reached must not be promoted.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert not cluster.is_voter("n4"), "n4 was promoted to voter:\n" + promoted()
            time.sleep(0.1)
        values = values_for("tls", 1000)
        offsets = produce_stream(pb, cluster.stub(leader), values)
        expected = dict(zip(offsets, values))
        for name in ("n1", "n2", "n3"):
            assert_holds(pb, cluster, name, expected)
        # More writes and reconcile rounds: n4 still gets nothing, never votes.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            # It holds nothing and no leader reaches it, so it cannot confirm that
            # the log ends there: it refuses rather than deny a committed record.
            with pytest.raises(grpc.RpcError) as error:
                cluster.stub("n4").Consume(pb.log.ConsumeRequest(offset=offsets[0]), timeout=5)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE, error.value
            assert not cluster.is_voter("n4"), "n4 was promoted to voter:\n" + promoted()
            produce(pb, cluster.stub(leader), b"more")
            time.sleep(0.1)
        # The three good nodes still agree on one leader and take writes.
        assert cluster.agreed_leader_among(["n1", "n2", "n3"]) == leader
        about_n4 = [e.get("msg") for e in cluster.nodes[leader].events if "n4" in str(e)]
        print(f"leader log lines about n4: {about_n4[:6]}; n4 sees {cluster.servers('n4')}")
