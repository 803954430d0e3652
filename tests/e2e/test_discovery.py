"""Gossip membership of `proglog serve` against a real `serf agent`."""

import json
import shutil
import signal
import subprocess
import time

import pytest

import harness

SERF = shutil.which("serf") or "/usr/bin/serf"
# Serf marks a silent member failed after its suspicion timeout (seconds on
# loopback); the bound leaves room for a loaded machine.
FAILED_TIMEOUT = 30.0
JOIN_TIMEOUT = 20.0


class SerfAgent:
    """A `serf agent` on free loopback ports, stopped after the test."""

    def __init__(self, tmp_path, name="agent", extra=()):
        self.name = name
        self.port = harness.free_gossip_port()
        self.rpc_addr = f"127.0.0.1:{harness.free_port()}"
        self.addr = f"127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"serf-{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [SERF, "agent", f"-node={name}", f"-bind={self.addr}", f"-rpc-addr={self.rpc_addr}",
             "-log-level=debug", *extra],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        harness.poll(lambda: self.members() is not None, 20, "serf agent RPC to answer", 0.1)

    def members(self):
        """{name: member} as `serf members -format=json` reports, or None."""
        if self.proc.poll() is not None:
            raise AssertionError("serf agent exited:\n" + self.log_path.read_text())
        result = subprocess.run([SERF, "members", f"-rpc-addr={self.rpc_addr}", "-format=json"],
                                capture_output=True, timeout=20)
        if result.returncode != 0:
            return None
        return {m["name"]: m for m in json.loads(result.stdout)["members"]}

    def wait_status(self, name, status, timeout):
        def seen():
            member = (self.members() or {}).get(name)
            return member if member and member["status"] == status else None
        return harness.poll(seen, timeout, f"serf to see {name} {status}", 0.2)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=harness.STOP_TIMEOUT)
        self._log.close()


@pytest.fixture
def agent(tmp_path):
    a = SerfAgent(tmp_path)
    yield a
    a.close()


def gossip_node(tmp_path, agent, name="n1", *args):
    port = harness.free_gossip_port()
    node = harness.Node(tmp_path / name, "--node-name", name,
                        "--bind-addr", f"127.0.0.1:{port}",
                        "--start-join-addrs", agent.addr, *args)
    return node, f"127.0.0.1:{port}"


def members_cli(addr, *args):
    result = harness.run_cli("members", "--addr", addr, "--format", "json", *args)
    assert result.returncode == 0, result
    return {m["name"]: m for m in json.loads(result.stdout)}


def test_node_joins_a_serf_agent_and_is_seen_failed_after_kill_9(tmp_path, agent):
    node, gossip_addr = gossip_node(tmp_path, agent)
    with node:
        seen = agent.wait_status("n1", "alive", JOIN_TIMEOUT)
        assert seen["addr"] == gossip_addr
        assert seen["tags"]["rpc_addr"] == node.rpc_addr
        assert set(seen["tags"]) == {"rpc_addr", "raft_id"}  # its Raft id, a decimal u64
        assert 0 < int(seen["tags"]["raft_id"]) < 2**64
        # Our node lists the agent, with its own entry and tags, through `proglog members`.
        listed = harness.poll(lambda: (lambda m: m if "agent" in m else None)(
            members_cli(gossip_addr)), JOIN_TIMEOUT, "proglog members to list the agent")
        assert listed["agent"]["status"] == "alive"
        assert listed["agent"]["address"] == agent.addr
        assert listed["n1"]["tags"] == seen["tags"]
        harness.poll(lambda: any(e.get("msg") == "member event" and e.get("member") == "agent"
                                 and e.get("event") == "member-join" for e in node.events),
                     JOIN_TIMEOUT, "the agent's join in the node's log")
        # The agent's view through `proglog members` as well.
        assert members_cli(agent.addr)["n1"]["status"] == "alive"

        started = time.monotonic()
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=harness.STOP_TIMEOUT)
        agent.wait_status("n1", "failed", FAILED_TIMEOUT)
        print(f"serf saw the killed node failed after {time.monotonic() - started:.1f}s")


def test_graceful_stop_is_seen_as_left(tmp_path, agent):
    node, _ = gossip_node(tmp_path, agent)
    with node:
        agent.wait_status("n1", "alive", JOIN_TIMEOUT)
        assert node.stop(signal.SIGTERM) == 0
        agent.wait_status("n1", "left", JOIN_TIMEOUT)
        assert "left the gossip cluster" in node.output()


def test_node_logs_the_agent_leaving_and_failing(tmp_path, agent):
    second = SerfAgent(tmp_path, "agent2", ["-join", agent.addr])
    try:
        node, _ = gossip_node(tmp_path, agent)
        with node:
            agent.wait_status("n1", "alive", JOIN_TIMEOUT)

            def event(kind, member):
                return lambda: any(e.get("msg") == "member event" and e.get("event") == kind
                                   and e.get("member") == member for e in node.events)
            harness.poll(event("member-join", "agent2"), JOIN_TIMEOUT, "agent2 join logged")
            subprocess.run([SERF, "leave", f"-rpc-addr={second.rpc_addr}"], timeout=30,
                           capture_output=True, check=True)
            harness.poll(event("member-leave", "agent2"), JOIN_TIMEOUT, "agent2 leave logged")
            agent.proc.kill()
            harness.poll(event("member-failed", "agent"), FAILED_TIMEOUT, "agent failure logged")
    finally:
        second.close()


def test_gossip_key_encrypts_and_keeps_keyless_nodes_out(tmp_path):
    key = subprocess.run([SERF, "keygen"], capture_output=True, check=True,
                         timeout=20).stdout.decode().strip()
    agent = SerfAgent(tmp_path, "agent", [f"-encrypt={key}"])
    try:
        node, gossip_addr = gossip_node(tmp_path, agent, "n1", "--gossip-key", key)
        with node:
            agent.wait_status("n1", "alive", JOIN_TIMEOUT)
            assert node.wait_for_event("gossip started")["encrypted"] == "true"
            env = {"PROGLOG_GOSSIP_KEY": key}
            listed = harness.run_cli("members", "--addr", gossip_addr, "--format", "json", env=env)
            assert listed.returncode == 0, listed
            assert {m["name"] for m in json.loads(listed.stdout)} == {"n1", "agent"}
            # Without the key the node answers nothing.
            keyless = harness.run_cli("members", "--addr", gossip_addr, "--timeout", "2s")
            assert keyless.returncode == 1, keyless
            # A node without the key cannot get in.
            outsider, _ = gossip_node(tmp_path, agent, "n2")
            with outsider:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    assert "n2" not in agent.members()
                    time.sleep(0.5)
    finally:
        agent.close()


def test_bad_gossip_key_exits_2(tmp_path):
    result = harness.run_cli("--data-dir", tmp_path / "d", "--rpc-port", "0",
                             "--bind-addr", "127.0.0.1:0", "--gossip-key", "not base64!")
    assert result.returncode == 2, result
    assert b"gossip-key" in result.stderr
    assert b"not base64!" not in result.stderr  # a key is never echoed
    assert not (tmp_path / "d").exists()


def test_busy_gossip_port_exits_1(tmp_path):
    port = harness.free_gossip_port()
    with harness.Node(tmp_path / "a", "--node-name", "a", "--bind-addr", f"127.0.0.1:{port}"):
        second = harness.Node(tmp_path / "b", "--node-name", "b",
                              "--bind-addr", f"127.0.0.1:{port}").start()
        assert second.wait_exit() == 1
        assert "cannot start gossip" in second.output()


def test_members_of_an_unreachable_address_fails(tmp_path):
    result = harness.run_cli("members", "--addr", f"127.0.0.1:{harness.free_port()}",
                             "--timeout", "2s")
    assert result.returncode == 1, result
    assert b"proglog members" in result.stderr

