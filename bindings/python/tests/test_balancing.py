"""The load-balancing client against a real three-node cluster of `proglog`
processes: writes follow the leader through a kill -9, reads rotate over the
followers, a subscription survives the loss of its server, and a dead bootstrap
address is skipped. Each node's copy of the log is read with a raw gRPC client
generated from the proto (tests/e2e/harness.py), so no record is checked through
the client under test."""

from __future__ import annotations

import re
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

import proglog

from test_client import dead_address

sys.path.append(str(Path(__file__).resolve().parents[3] / "tests" / "e2e"))
import harness  # noqa: E402  (the e2e tests' process harness, found above)

# Fast failover: a follower campaigns after 300-600 ms without a leader.
CLUSTER_ARGS = ("--raft-election-timeout", "300ms", "--metrics-addr", "127.0.0.1:0")
NAMES = ("n1", "n2", "n3")


@pytest.fixture(scope="module")
def pb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Python gRPC modules generated from the repository's proto."""
    harness.binary()  # fails clearly when PROGLOG_BIN does not name the binary
    return harness.generate_stubs(tmp_path_factory.mktemp("generated"))


def start_cluster(pb: Any, base_dir: Path) -> harness.Cluster:
    cluster = harness.Cluster(base_dir, *CLUSTER_ARGS, pb=pb)
    try:
        cluster.start(*NAMES)
        cluster.wait_formed()
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture(scope="module")
def trio(pb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Cluster]:
    """A cluster for the tests that do not disturb it."""
    cluster = start_cluster(pb, tmp_path_factory.mktemp("trio"))
    with cluster:
        yield cluster


@pytest.fixture
def cluster(pb: Any, tmp_path: Path) -> Iterator[harness.Cluster]:
    """A cluster of the test's own, for tests that kill nodes."""
    cluster = start_cluster(pb, tmp_path)
    with cluster:
        yield cluster


def leader_and_followers(cluster: harness.Cluster) -> tuple[str, list[str]]:
    leader = cluster.wait_formed()
    return leader, [n for n in cluster.live() if n != leader]


def address(cluster: harness.Cluster, name: str) -> str:
    return str(cluster.nodes[name].rpc_addr)


def kill_9(cluster: harness.Cluster, name: str) -> None:
    process = cluster.nodes[name].proc
    process.kill()
    assert process.wait(timeout=harness.STOP_TIMEOUT) == -signal.SIGKILL


def metric_sum(cluster: harness.Cluster, name: str, metric: str, **labels: str) -> float:
    """The sum of the series `metric` whose labels include `labels`, on node `name`."""
    metrics_addr = cluster.nodes[name].wait_for_event("serving")["metrics_addr"]
    with urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != metric:
            continue
        found = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def consumes_served(cluster: harness.Cluster) -> dict[str, float]:
    return {name: metric_sum(cluster, name, "grpc_server_handled_total", grpc_method="Consume")
            for name in cluster.live()}


def stored_values(pb: Any, cluster: harness.Cluster, name: str, last: int) -> dict[int, bytes]:
    """Node `name`'s own records 0..last, read with one raw ConsumeStream once it
    holds `last`."""

    def holds_last() -> bool:
        return harness.value_at(pb, cluster.stub(name), last) is not None

    harness.poll(holds_last, 60, f"{name} to hold offset {last}", 0.05)
    stream = cluster.stub(name).ConsumeStream(pb.log.ConsumeRequest(offset=0), timeout=120)
    stored: dict[int, bytes] = {}
    try:
        for response in stream:
            stored[response.record.offset] = response.record.value
            if response.record.offset >= last:
                break
    finally:
        stream.cancel()
    return stored


def assert_every_node_holds(pb: Any, cluster: harness.Cluster,
                            expected: dict[int, bytes]) -> None:
    for name in NAMES:
        stored = stored_values(pb, cluster, name, max(expected))
        wrong = [o for o, v in expected.items() if stored.get(o) != v]
        assert not wrong, (f"{name}: {len(wrong)} of {len(expected)} records missing or "
                           f"changed, first at offset {min(wrong)}")


def test_produce_loop_through_a_follower_survives_kill_9_of_the_leader(
        pb: Any, cluster: harness.Cluster) -> None:
    leader, followers = leader_and_followers(cluster)
    acked: dict[int, bytes] = {}
    killed_at: Optional[float] = None
    failover: Optional[float] = None
    with proglog.Client(address(cluster, followers[0])) as client:
        for i in range(5000):
            value = f"loop-{i:05d}".encode()
            offset = client.produce(value)
            if killed_at is not None and failover is None:
                failover = time.monotonic() - killed_at
            assert offset not in acked, f"offset {offset} returned twice"
            assert not acked or offset > max(acked), "offsets go back in a sequential loop"
            acked[offset] = value
            if i == 999:
                killed_at = time.monotonic()
                kill_9(cluster, leader)
    assert failover is not None
    print(f"failover seen by the loop: {failover:.3f}s from kill -9 of the leader "
          "to the next produce that returned")
    # Every node holds every acknowledged record, the old leader once it is back.
    cluster.restart(leader)
    assert_every_node_holds(pb, cluster, acked)


def test_consumes_rotate_over_the_followers(trio: harness.Cluster) -> None:
    leader, followers = leader_and_followers(trio)
    with proglog.Client(address(trio, leader)) as client:
        last = client.produce_many([b"spread-%d" % i for i in range(10)])[-1]
        for name in followers:  # so that no follower sends a read on to the leader
            harness.poll(lambda: harness.value_at(trio.pb, trio.stub(name), last), 30,
                         f"{name} to hold offset {last}")
        before = consumes_served(trio)
        for i in range(60):
            assert client.consume(last - i % 10).value == b"spread-%d" % (9 - i % 10)
        served = {n: count - before[n] for n, count in consumes_served(trio).items()}
    print(f"60 consumes served by: {served} (leader {leader})")
    assert served[leader] == 0, served
    assert all(served[n] >= 20 for n in followers), served
    assert sum(served.values()) == 60, served


def test_read_from_leader_sends_consumes_to_the_leader(trio: harness.Cluster) -> None:
    leader, followers = leader_and_followers(trio)
    with proglog.Client(address(trio, followers[0]), read_from="leader") as client:
        offset = client.produce(b"read at the leader")
        before = consumes_served(trio)
        for _ in range(20):
            assert client.consume(offset).value == b"read at the leader"
        served = {n: count - before[n] for n, count in consumes_served(trio).items()}
    assert served == {leader: 20, **{n: 0 for n in followers}}, served


def test_servers_flags_the_one_leader(trio: harness.Cluster) -> None:
    leader, followers = leader_and_followers(trio)
    with proglog.Client(address(trio, followers[0])) as client:
        servers = client.servers(timeout=10)
    assert sorted(servers, key=lambda s: s.id) == [
        proglog.Server(n, address(trio, n), n == leader) for n in NAMES]


def test_pinned_client_talks_to_its_node_only(trio: harness.Cluster) -> None:
    leader, followers = leader_and_followers(trio)
    with proglog.Client(address(trio, followers[0]), read_from="pinned") as pinned:
        with pytest.raises(proglog.NotLeader) as refused:
            pinned.produce(b"not followed")
    assert refused.value.leader == address(trio, leader)
    assert not refused.value.outcome_unknown


@pytest.mark.parametrize("dead_first", [True, False], ids=["dead-first", "dead-last"])
def test_client_given_a_dead_and_a_live_address_works(trio: harness.Cluster,
                                                      dead_first: bool) -> None:
    live = address(trio, leader_and_followers(trio)[1][0])
    addresses = [dead_address(), live] if dead_first else [live, dead_address()]
    with proglog.Client(addresses) as client:
        offset = client.produce(b"despite the dead address")
        assert client.consume(offset).value == b"despite the dead address"
        assert {s.id for s in client.servers()} == set(NAMES)


def test_subscription_carries_on_when_its_server_is_killed(
        pb: Any, cluster: harness.Cluster) -> None:
    values = [b"sub-%05d-" % i * 8 for i in range(1500)]
    with proglog.Client(address(cluster, cluster.wait_formed())) as client, \
            proglog.Client(address(cluster, cluster.live()[0])) as reader:
        assert client.produce_many(values[:1000]) == list(range(1000))
        got: list[proglog.Record] = []
        with reader.subscribe(0) as stream:
            for record in stream:
                got.append(record)
                if len(got) == 100:
                    break
            streaming = [n for n in cluster.live()
                         if metric_sum(cluster, n, "grpc_server_started_total",
                                       grpc_method="ConsumeBatchStream") > 0]
            assert len(streaming) == 1, streaming
            kill_9(cluster, streaming[0])
            # Records the stream's first server never had.
            assert client.produce_many(values[1000:]) == list(range(1000, 1500))
            for record in stream:
                got.append(record)
                if len(got) == len(values):
                    break
    print(f"subscription moved off the killed {streaming[0]}")
    assert [r.offset for r in got] == list(range(len(values)))
    assert [r.value for r in got] == values
