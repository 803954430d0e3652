"""The proglog command line: flags, config precedence, exit codes, subcommands."""

import json
import re
import subprocess

import grpc
import pytest

import harness

ALL_FLAGS = [
    "--config-file", "--data-dir", "--node-name", "--bind-addr", "--rpc-port",
    "--start-join-addrs", "--bootstrap", "--acl-model-file", "--acl-policy-file",
    "--server-tls-cert-file", "--server-tls-key-file", "--server-tls-ca-file",
    "--peer-tls-cert-file", "--peer-tls-key-file", "--peer-tls-ca-file", "--fsync",
    "--segment-max-store-bytes", "--segment-max-index-bytes", "--retention-bytes",
    "--retention-age", "--retention-check-interval", "--max-record-bytes", "--log-format",
    "--log-level", "--gossip-key", "--version",
]


def test_version_prints_the_version():
    result = harness.run_cli("--version")
    assert result.returncode == 0
    assert re.fullmatch(rb"proglog \d+\.\d+\.\d+\s*", result.stdout), result.stdout


def test_help_documents_every_flag_and_subcommand():
    result = harness.run_cli("--help")
    assert result.returncode == 0
    missing = [f for f in ALL_FLAGS + ["serve", "produce", "consume", "servers", "members", "cert"]
               if f not in result.stdout.decode()]
    assert not missing
    for command, flags in (("consume", ["--offset", "--follow", "--addr"]),
                           ("produce", ["--addr", "--tls-ca-file", "--tls-cert-file",
                                        "--tls-key-file", "--tls-server-name"]),
                           ("members", ["--addr", "--gossip-key"]),
                           ("cert", ["ca", "issue"]),
                           ("serve", ["--data-dir", "--fsync", "--gossip-key"])):
        text = harness.run_cli(command, "--help").stdout.decode()
        assert all(f in text for f in flags), (command, text)


@pytest.mark.parametrize("args", [
    ["--no-such-flag"],
    ["serve", "--no-such-flag"],
    ["consume", "--no-such-flag"],
    ["no-such-command"],
])
def test_unknown_flag_or_command_exits_2(args, tmp_path):
    result = harness.run_cli(*args, "--data-dir", tmp_path / "d")
    assert result.returncode == 2, result
    assert b"no-such" in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("args,env,named", [
    (["--rpc-port", "70000"], {}, "rpc-port"),
    (["--fsync", "sometimes"], {}, "fsync"),
    (["--segment-max-store-bytes", "12XB"], {}, "segment-max-store-bytes"),
    (["--max-record-bytes", "0"], {}, "max-record-bytes"),
    (["--retention-age", "forever"], {}, "retention-age"),
    (["--bind-addr", "no-port"], {}, "bind-addr"),
    (["--log-format", "xml"], {}, "log-format"),
    ([], {"PROGLOG_RPC_PORT": "abc"}, "PROGLOG_RPC_PORT"),
    ([], {"PROGLOG_FSYNC": "interval:0"}, "PROGLOG_FSYNC"),
])
def test_bad_value_exits_2_naming_the_setting_and_its_source(args, env, named, tmp_path):
    result = harness.run_cli("--data-dir", tmp_path / "d", *args, env=env)
    assert result.returncode == 2, result
    assert named.encode() in result.stderr, result.stderr
    assert not (tmp_path / "d").exists(), "a refused start must not touch the data dir"


@pytest.mark.parametrize("text,named", [
    ("data-dir: /tmp/x\nno-such-setting: 1\n", "no-such-setting"),
    ("rpc-port: [1, 2]\n", "rpc-port"),
    ("rpc-port: 80\n  bad indentation: here\n", "config file"),
    ("- just\n- a list\n", "mapping"),
])
def test_bad_config_file_exits_2_naming_the_file(text, named, tmp_path):
    config = tmp_path / "proglog.yaml"
    config.write_text(text)
    result = harness.run_cli("--config-file", config, "--data-dir", tmp_path / "d")
    assert result.returncode == 2, result
    assert named.encode() in result.stderr and str(config).encode() in result.stderr


def test_missing_config_file_exits_2(tmp_path):
    result = harness.run_cli("--config-file", tmp_path / "absent.yaml")
    assert result.returncode == 2
    assert b"absent.yaml" in result.stderr


def test_data_dir_below_a_file_exits_1_naming_it(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    data_dir = tmp_path / "file" / "data"
    result = harness.run_cli("--data-dir", data_dir, "--rpc-port", "0")
    assert result.returncode == 1, result
    assert str(data_dir).encode() in result.stderr


def test_read_only_data_dir_exits_1_naming_it(tmp_path):
    # Permission bits do not stop root, so the directory is a read-only mount.
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                   check=True, capture_output=True)
    try:
        for data_dir in (mount, mount / "data"):
            result = harness.run_cli("--data-dir", data_dir, "--rpc-port", "0")
            assert result.returncode == 1, result
            assert str(data_dir).encode() in result.stderr
            assert b"writable" in result.stderr or b"create" in result.stderr
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_flags_win_over_environment_which_wins_over_config_file(pb, tmp_path):
    file_dir = tmp_path / "from-file"
    config = tmp_path / "proglog.yaml"
    config.write_text(f"data-dir: {file_dir}\nnode-name: from-file\nfsync: never\n"
                      "max-record-bytes: 2KiB\nstart-join-addrs:\n  - 127.0.0.1:1\n")
    env = {"PROGLOG_CONFIG_FILE": str(config), "PROGLOG_NODE_NAME": "from-env",
           "PROGLOG_FSYNC": "interval:50"}
    with harness.Node(None, "--node-name", "from-flag", env=env) as node, \
            harness.channel(node.rpc_addr) as ch:
        serving = node.wait_for_event("serving")
        assert serving["node_name"] == "from-flag"  # flag over env and file
        assert "interval" in serving["fsync"] and "50" in serving["fsync"]  # env over file
        assert serving["data_dir"] == str(file_dir)  # file over default
        assert file_dir.is_dir()
        stub = pb.log_grpc.LogStub(ch)
        servers = stub.GetServers(pb.log.GetServersRequest(), timeout=harness.RPC_TIMEOUT)
        assert [s.id for s in servers.servers] == ["from-flag"]
        # max-record-bytes from the file is in force.
        big = pb.log.ProduceRequest(record=pb.log.Record(value=b"x" * 2049))
        with pytest.raises(grpc.RpcError) as error:
            stub.Produce(big, timeout=harness.RPC_TIMEOUT)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Cluster settings from the file are in force too.
        assert serving["start_join_addrs"] == "127.0.0.1:1"


def test_serve_subcommand_is_the_same_as_flags_alone(pb, tmp_path):
    with harness.Node(tmp_path / "d", "--node-name", "sub", subcommand="serve") as node, \
            harness.channel(node.rpc_addr) as ch:
        servers = pb.log_grpc.LogStub(ch).GetServers(pb.log.GetServersRequest(),
                                                    timeout=harness.RPC_TIMEOUT)
        assert [(s.id, s.rpc_addr, s.is_leader) for s in servers.servers] == [
            ("sub", node.rpc_addr, True)]
        assert node.stop() == 0


def test_client_subcommands_round_trip(node):
    addr = node.rpc_addr
    produced = harness.run_cli("produce", "--addr", addr, "alpha", "beta")
    assert (produced.returncode, produced.stdout) == (0, b"0\n1\n"), produced
    produced = harness.run_cli("produce", "--addr", addr, input=b"gamma\ndelta\n")
    assert (produced.returncode, produced.stdout) == (0, b"2\n3\n"), produced

    consumed = harness.run_cli("consume", "--addr", addr, "--offset", "1")
    assert (consumed.returncode, consumed.stdout) == (0, b"beta\ngamma\ndelta\n"), consumed
    consumed = harness.run_cli("consume", "--offset", "0", "--count", "2", "--format", "json",
                               env={"PROGLOG_ADDR": addr})
    assert [json.loads(line) for line in consumed.stdout.splitlines()] == [
        {"offset": 0, "value": "alpha"}, {"offset": 1, "value": "beta"}]

    servers = harness.run_cli("servers", "--addr", addr)
    assert (servers.returncode, servers.stdout) == (0, f"n1\t{addr}\tleader\n".encode())


def test_consume_follow_prints_records_as_they_arrive(node):
    follower = subprocess.Popen(
        [harness.binary(), "consume", "--addr", node.rpc_addr, "--offset", "0", "--follow",
         "--count", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The follower starts at an empty log and must wait for both records.
        assert harness.run_cli("produce", "--addr", node.rpc_addr, "first").returncode == 0
        assert follower.stdout.readline() == b"first\n"
        assert harness.run_cli("produce", "--addr", node.rpc_addr, "second").returncode == 0
        out, err = follower.communicate(timeout=harness.RPC_TIMEOUT)
        assert (follower.returncode, out) == (0, b"second\n"), err
    finally:
        follower.kill()
        follower.wait()


def test_client_subcommand_reports_unreachable_server_with_exit_1():
    addr = f"127.0.0.1:{harness.free_port()}"
    result = harness.run_cli("servers", "--addr", addr, "--timeout", "2s")
    assert result.returncode == 1
    assert b"UNAVAILABLE" in result.stderr or b"DEADLINE" in result.stderr


def test_client_subcommands_produce_and_consume_empty_values(node):
    result = harness.run_cli("produce", "--addr", node.rpc_addr, "", "x", "")
    assert result.returncode == 0, result
    assert result.stdout.split() == [b"0", b"1", b"2"]
    result = harness.run_cli("consume", "--addr", node.rpc_addr, "--offset", "0")
    assert result.returncode == 0, result
    assert result.stdout == b"\nx\n\n"


def test_second_node_on_the_same_data_dir_exits_1_and_the_first_keeps_serving(pb, node):
    result = harness.run_cli("--data-dir", node.data_dir, "--rpc-port", "0")
    assert result.returncode == 1, result
    assert str(node.data_dir).encode() in result.stderr
    with harness.channel(node.rpc_addr) as ch:
        request = pb.log.ProduceRequest(record=pb.log.Record(value=b"still here"))
        assert pb.log_grpc.LogStub(ch).Produce(request, timeout=harness.RPC_TIMEOUT).offset == 0


def test_a_second_node_on_a_busy_rpc_port_exits_1(node, tmp_path):
    port = node.rpc_addr.rsplit(":", 1)[1]
    second = harness.Node(tmp_path / "second", "--node-name", "second", rpc_port=port).start()
    assert second.wait_exit() == 1, second.output()
    assert "cannot start" in second.output() and port in second.output()
    assert node.proc.poll() is None  # the first node keeps serving
