"""Bad input and lonely nodes in a cluster: a second node with a taken name is
refused, a node with nobody to join reports that it has no leader, garbage or
another cluster's frames on the Raft side of the RPC port do not stop a node,
and a name that comes back with an empty data dir replaces its old self."""
import shutil
import socket
import struct

import grpc
import pytest

import harness


def test_a_second_node_with_a_taken_name_is_refused(pb, tmp_path):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1")
        twin = harness.Node(tmp_path / "twin", "--node-name", "n1",
                            "--start-join-addrs", cluster.gossip_addr("n1"))
        twin.start()
        assert twin.wait_exit() == 1, twin.output()
        assert "node name n1 is taken" in twin.output()
        assert cluster.wait_formed(["n1"]) == "n1"  # the first one is unharmed


def test_a_node_with_nobody_to_join_has_no_leader_and_says_so(pb, tmp_path):
    # A join address where nobody answers: the node serves, but cannot lead.
    lonely = harness.Node(tmp_path / "d", "--node-name", "lonely",
                          "--start-join-addrs", f"127.0.0.1:{harness.free_port()}")
    with lonely, harness.channel(lonely.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        with pytest.raises(grpc.RpcError) as error:
            stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"x")),
                         timeout=harness.RPC_TIMEOUT)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no leader" in error.value.details()
        assert all(key != "proglog-leader" for key, _ in error.value.trailing_metadata() or [])
        servers = stub.GetServers(pb.log.GetServersRequest(), timeout=harness.RPC_TIMEOUT)
        assert [(s.id, s.is_leader) for s in servers.servers] == [("lonely", False)]


@pytest.mark.parametrize("garbage", [b"\x01" + b"\xff" * 64, b"\x01PLRM" + b"\x00" * 40])
def test_garbage_on_a_raft_connection_is_dropped_and_the_node_keeps_serving(
        pb, tmp_path, garbage):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1", "n2")
        leader = cluster.wait_formed()
        host, port = cluster.nodes[leader].rpc_addr.rsplit(":", 1)
        for _ in range(5):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(garbage)
        stub = cluster.stub(leader)
        offset = stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"ok")),
                              timeout=harness.RPC_TIMEOUT).offset
        follower = [n for n in cluster.live() if n != leader][0]
        harness.poll(lambda: harness.value_at(pb, cluster.stub(follower), offset) == b"ok", 20,
                     "the follower to replicate after the garbage")


def identity_of(data_dir):
    """(raft id, cluster id) from a node's raft/identity file: magic, version and
    payload length (u32 each), the two u64s, then a CRC32C."""
    data = (data_dir / "raft" / "identity").read_bytes()
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (0x44495250, 1, 16)
    return struct.unpack_from("<QQ", data, 12)


def test_members_share_the_bootstrap_nodes_cluster_id_and_refuse_other_clusters(pb, tmp_path):
    with harness.Cluster(tmp_path / "a", pb=pb) as cluster:
        cluster.start("n1", "n2", "n3")
        cluster.wait_formed()
        ids = {name: identity_of(tmp_path / "a" / name) for name in ("n1", "n2", "n3")}
        cluster_ids = {cluster_id for _, cluster_id in ids.values()}
        assert len(cluster_ids) == 1 and 0 not in cluster_ids, ids
        assert len({raft_id for raft_id, _ in ids.values()}) == 3, ids

        # A well-formed frame header for another cluster is refused at once.
        (cluster_id,) = cluster_ids
        foreign = (cluster_id + 1) % (1 << 64) or 1
        leader = cluster.agreed_leader()
        host, port = cluster.nodes[leader].rpc_addr.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"\x01PLRM" + struct.pack("<QI", foreign, 0))
            sock.settimeout(10)
            assert sock.recv(1) == b""  # closed by the node
        cluster.nodes[leader].wait_for_event("raft transport: closing connection from plaintext "
                                             f"peer: FAILED_PRECONDITION: raft frame for cluster "
                                             f"{foreign}, this is cluster {cluster_id}")
        offset = cluster.stub(leader).Produce(
            pb.log.ProduceRequest(record=pb.log.Record(value=b"still")),
            timeout=harness.RPC_TIMEOUT).offset
        assert harness.value_at(pb, cluster.stub(leader), offset) == b"still"


def promotions_of(cluster, name):
    """How many times a leader logged promoting `name` to voter."""
    return sum(1 for _, node in cluster.history for e in list(node.events)
               if str(e.get("msg", "")).startswith(f"raft: promoting {name} "))


def test_a_name_back_with_an_empty_data_dir_replaces_its_old_self(pb, tmp_path):
    with harness.Cluster(tmp_path, pb=pb) as cluster:
        cluster.start("n1", "n2", "n3")
        leader = cluster.wait_formed()
        stub = cluster.stub(leader)
        offsets = [stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=b"v%d" % i)),
                                timeout=harness.RPC_TIMEOUT).offset for i in range(50)]
        victim = next(n for n in ("n3", "n2") if n != leader)
        old_raft_id, _ = identity_of(tmp_path / victim)
        promoted_before = promotions_of(cluster, victim)
        cluster.nodes[victim].proc.kill()
        cluster.nodes[victim].proc.wait()
        shutil.rmtree(tmp_path / victim)
        cluster.restart(victim)
        new_raft_id, _ = identity_of(tmp_path / victim)
        assert new_raft_id != old_raft_id

        # The old incarnation leaves the configuration, the new one becomes a
        # voter: every node lists the three names (no stray id) with one leader.
        def removed_old():
            return any(f"(id {old_raft_id})" in str(e.get("msg", ""))
                       for _, node in cluster.history for e in list(node.events))
        harness.poll(removed_old, 30, "the leader to remove the old incarnation")
        cluster.wait_formed(["n1", "n2", "n3"], voters=False)
        harness.poll(lambda: promotions_of(cluster, victim) > promoted_before, 30,
                     "the new incarnation to be promoted")
        for i, offset in enumerate(offsets):
            harness.poll(lambda: harness.value_at(pb, cluster.stub(victim), offset) == b"v%d" % i,
                         30, f"offset {offset} on the new {victim}")


def test_gossip_on_a_wildcard_address_joined_through_a_host_name(pb, tmp_path):
    # As on Kubernetes: gossip binds every interface and advertises the node's
    # host; the joiner names the first node by a host name, not an address.
    host = socket.gethostname()
    assert socket.gethostbyname(host).count(".") == 3  # the name resolves to IPv4 here
    gossip_port = harness.free_gossip_port()
    first = harness.Node(tmp_path / "n1", "--node-name", "n1", "--bootstrap",
                         "--bind-addr", f"0.0.0.0:{gossip_port}", "--advertise-host", "127.0.0.1")
    with first:
        second = harness.Node(tmp_path / "n2", "--node-name", "n2",
                              "--bind-addr", f"127.0.0.1:{harness.free_gossip_port()}",
                              "--start-join-addrs", f"{host}:{gossip_port}")
        with second, harness.channel(second.rpc_addr) as ch:
            stub = pb.log_grpc.LogStub(ch)

            def both_listed():
                try:
                    servers = stub.GetServers(pb.log.GetServersRequest(), timeout=2).servers
                except grpc.RpcError:
                    return False
                return sorted(s.id for s in servers) == ["n1", "n2"] and any(
                    s.is_leader and s.id == "n1" for s in servers)
            harness.poll(both_listed, 30, "n2 to join n1 through a host name")
            joined = [e for e in first.events if e.get("msg") == "gossip started"]
            assert joined and joined[0]["bind_addr"] == f"127.0.0.1:{gossip_port}", joined
