"""The embedded node's cluster options: it bootstraps a cluster, and it joins a
cluster bootstrapped by the real `proglog` binary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

import proglog
from conftest import ServerProcess, poll

# A 16-byte gossip key in base64, as `serf keygen` prints one.
GOSSIP_KEY = "AAECAwQFBgcICQoLDA0ODw=="
# How long a cluster may take to elect, admit a member or replicate a record.
CLUSTER_TIMEOUT = 30.0


def produce_once_leader(client: proglog.Client, value: bytes) -> int:
    """Produces as soon as the cluster has a leader (refusals before are retryable)."""

    def attempt() -> Optional[tuple[int]]:
        try:
            return (client.produce(value),)
        except proglog.Error as error:
            if not error.retryable:
                raise
            return None

    return poll(attempt, CLUSTER_TIMEOUT, "a leader to take the produce")[0]


def test_bootstrapped_node_leads_and_serves(tmp_path: Path) -> None:
    with proglog.Node(tmp_path / "leader", name="py-leader", cluster=True,
                      bind_addr="127.0.0.1:0", bootstrap=True, gossip_key=GOSSIP_KEY,
                      raft_heartbeat_interval=0.02, raft_election_timeout=0.2) as node:
        host, port = node.gossip_address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        with proglog.Client(node.address, timeout=5.0) as client:
            offset = produce_once_leader(client, b"replicated")
            assert client.consume(offset).value == b"replicated"
            assert node.read(offset).value == b"replicated"
            assert client.servers() == [proglog.Server("py-leader", node.address, True)]


def test_node_joins_a_cluster_bootstrapped_by_the_binary(tmp_path: Path) -> None:
    binary = ServerProcess(tmp_path / "binary")
    try:
        if not binary.uses_binary:
            pytest.fail("PROGLOG_BIN must name the built `proglog` binary")
        assert binary.address is not None and binary.gossip_address, binary.lines
        with proglog.Node(tmp_path / "joiner", name="py-joiner", cluster=True,
                          bind_addr="127.0.0.1:0",
                          start_join_addrs=[binary.gossip_address]) as node, \
                proglog.Client(binary.address, timeout=5.0) as at_binary, \
                proglog.Client(node.address, timeout=5.0) as at_node:

            def both_listed_with_a_leader() -> Optional[list[proglog.Server]]:
                # The client asks either node; the joiner may list the binary
                # before it has heard from it as the leader.
                try:
                    servers = at_binary.servers()
                except proglog.Unavailable:
                    return None
                listed = {s.id for s in servers} == {"bin", "py-joiner"}
                return servers if listed and any(s.is_leader for s in servers) else None

            servers = poll(both_listed_with_a_leader, CLUSTER_TIMEOUT,
                           "both nodes listed with the leader")
            assert [s.id for s in servers if s.is_leader] == ["bin"]

            offset = produce_once_leader(at_binary, b"from the binary")

            def replicated() -> Optional[tuple[bytes, bytes]]:
                try:
                    return node.read(offset).value, at_node.consume(offset).value
                except (proglog.OffsetOutOfRange, proglog.Unavailable):
                    return None

            got = poll(replicated, CLUSTER_TIMEOUT, "the record to reach the embedded node")
            assert got == (b"from the binary", b"from the binary")
            # A follower refuses local writes and names the leader.
            with pytest.raises(proglog.NotLeader) as refused:
                node.append(b"not here")
            assert refused.value.leader == binary.address
    finally:
        binary.stop()


def test_gossip_address_is_empty_without_cluster(node: proglog.Node) -> None:
    assert node.gossip_address == ""


def test_cluster_option_without_cluster_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(proglog.InvalidArgument, match="bootstrap"):
        proglog.Node(tmp_path / "n", bootstrap=True)


def test_a_data_dir_of_a_node_without_cluster_is_invalid_for_a_cluster_node(
        tmp_path: Path) -> None:
    with proglog.Node(tmp_path / "n") as node:
        node.append(b"kept")
    with pytest.raises(proglog.InvalidArgument, match="not in a cluster"):
        proglog.Node(tmp_path / "n", cluster=True, bind_addr="127.0.0.1:0", bootstrap=True)
    with proglog.Node(tmp_path / "n") as node:  # untouched, still its own kind's
        assert node.read(0).value == b"kept"


def test_malformed_gossip_key_is_invalid_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(proglog.InvalidArgument, match="gossip_key") as info:
        proglog.Node(tmp_path / "n", cluster=True, bind_addr="127.0.0.1:0",
                     gossip_key="c2hvcnQ=")
    assert "c2hvcnQ" not in str(info.value)


def test_raft_timing_must_be_a_number_of_seconds(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="raft_election_timeout"):
        proglog.Node(tmp_path / "n", cluster=True, bind_addr="127.0.0.1:0",
                     raft_election_timeout="500ms")  # type: ignore[arg-type]
