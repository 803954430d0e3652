"""Mutual TLS and the ACL of `proglog serve`, checked with certificates made by
the `openssl` command line and a grpcio client generated from the proto."""

import json
import os
import socket
import signal
import ssl
import time

import grpc
import pytest

import harness
import pki
from acl_files import MODEL_CONF, POLICY_CSV

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = pki.Ca(folder / "cluster")
    other = pki.Ca(folder / "other", common_name="some other CA")
    return {
        "ca": ca,
        "server": ca.issue("server", "serverAuth", hosts=("127.0.0.1", "localhost")),
        "root": ca.issue("root", "clientAuth"),
        "nobody": ca.issue("nobody", "clientAuth"),
        "other_root": other.issue("root", "clientAuth"),
        "self_root": pki.self_signed(folder / "self", "root"),
    }


@pytest.fixture
def acl(tmp_path):
    model, policy = tmp_path / "model.conf", tmp_path / "policy.csv"
    model.write_text(MODEL_CONF)
    policy.write_text(POLICY_CSV)
    return model, policy


def replace_file(path, text):
    """Swaps the file's content in one step, as editors do, so no reader sees it half-written."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    os.replace(temporary, path)


def tls_args(certs):
    server = certs["server"]
    return ["--server-tls-cert-file", server.cert, "--server-tls-key-file", server.key,
            "--server-tls-ca-file", certs["ca"].cert]


@pytest.fixture
def secure_node(certs, acl, tmp_path):
    model, policy = acl
    with harness.Node(tmp_path / "data", "--node-name", "n1", *tls_args(certs),
                      "--acl-model-file", model, "--acl-policy-file", policy) as node:
        yield node


def tls_channel(addr, certs, client=None, ca=None):
    """A channel that trusts the cluster CA (or `ca`) and presents `client`."""
    root_pem = (ca or certs["ca"].cert).read_bytes()
    creds = grpc.ssl_channel_credentials(
        root_certificates=root_pem,
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None)
    return grpc.secure_channel(addr, creds)


def produce(pb, stub, value: bytes):
    request = pb.log.ProduceRequest(record=pb.log.Record(value=value))
    return stub.Produce(request, timeout=harness.RPC_TIMEOUT).offset


def consume(pb, stub, offset: int) -> bytes:
    request = pb.log.ConsumeRequest(offset=offset)
    return stub.Consume(request, timeout=harness.RPC_TIMEOUT).record.value


def rpc_error(call):
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


def allowed(call) -> bool:
    try:
        call()
        return True
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.PERMISSION_DENIED:
            raise
        return False


def test_root_in_policy_produces_and_consumes(pb, certs, secure_node):
    with tls_channel(secure_node.rpc_addr, certs, certs["root"]) as ch:
        stub = pb.log_grpc.LogStub(ch)
        assert produce(pb, stub, b"first") == 0
        assert consume(pb, stub, 0) == b"first"
        values = [f"v{i}".encode() for i in range(20)]
        requests = (pb.log.ProduceRequest(record=pb.log.Record(value=v)) for v in values)
        offsets = [r.offset for r in stub.ProduceStream(requests, timeout=harness.RPC_TIMEOUT)]
        assert offsets == list(range(1, 21))
        stream = stub.ConsumeStream(pb.log.ConsumeRequest(offset=1), timeout=harness.RPC_TIMEOUT)
        got = [next(stream).record.value for _ in values]
        stream.cancel()
        assert got == values
    assert secure_node.wait_for_event("serving")["tls"] == "true"


def test_subject_outside_policy_is_permission_denied(pb, certs, secure_node):
    with tls_channel(secure_node.rpc_addr, certs, certs["nobody"]) as ch:
        stub = pb.log_grpc.LogStub(ch)
        for action, call in (("produce", lambda: produce(pb, stub, b"x")),
                             ("consume", lambda: consume(pb, stub, 0))):
            error = rpc_error(call)
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error
            assert "nobody" in error.details() and action in error.details(), error.details()
        # Methods outside the ACL still answer an authenticated client.
        servers = stub.GetServers(pb.log.GetServersRequest(), timeout=harness.RPC_TIMEOUT)
        assert [s.id for s in servers.servers] == ["n1"]


@pytest.mark.parametrize("client", ["plaintext", "no_client_cert", "other_root", "self_root"])
def test_clients_without_a_certificate_from_the_ca_are_refused(pb, certs, secure_node, client):
    addr = secure_node.rpc_addr
    if client == "plaintext":
        ch = grpc.insecure_channel(addr)
    elif client == "no_client_cert":
        ch = tls_channel(addr, certs)
    else:
        ch = tls_channel(addr, certs, certs[client])
    with ch:
        error = rpc_error(lambda: produce(pb, pb.log_grpc.LogStub(ch), b"sneaky"))
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error
    # Nothing got in, and the node still serves a proper client.
    with tls_channel(addr, certs, certs["root"]) as ch:
        stub = pb.log_grpc.LogStub(ch)
        assert produce(pb, stub, b"legit") == 0


def test_policy_file_rewrite_takes_effect_without_restart(pb, certs, acl, secure_node):
    _, policy = acl
    with tls_channel(secure_node.rpc_addr, certs, certs["nobody"]) as nobody_ch, \
            tls_channel(secure_node.rpc_addr, certs, certs["root"]) as root_ch:
        nobody, root = pb.log_grpc.LogStub(nobody_ch), pb.log_grpc.LogStub(root_ch)
        assert produce(pb, root, b"a") == 0
        assert not allowed(lambda: consume(pb, nobody, 0))
        policy.write_text(POLICY_CSV + "p, nobody, *, consume\n")
        harness.poll(lambda: allowed(lambda: consume(pb, nobody, 0)), 20, "nobody may consume")
        assert not allowed(lambda: produce(pb, nobody, b"b"))
        # The same connections carried on across the reload.
        assert produce(pb, root, b"c") == 1


def test_sighup_reloads_and_a_broken_policy_keeps_the_old_one(pb, certs, acl, secure_node):
    _, policy = acl
    node = secure_node
    with tls_channel(node.rpc_addr, certs, certs["root"]) as ch:
        stub = pb.log_grpc.LogStub(ch)
        replace_file(policy, "p, root, *\n")  # one field short
        node.proc.send_signal(signal.SIGHUP)
        refused = node.wait_for_event("SIGHUP: ACL policy refused; the previous policy stays in force")
        assert "policy.csv" in refused["error"] and "line 1" in refused["error"], refused
        assert refused["rules"] == "2"
        assert produce(pb, stub, b"still allowed") == 0

        replace_file(policy, "p, root, *, consume\n")
        node.proc.send_signal(signal.SIGHUP)
        harness.poll(lambda: any(e.get("msg") == "SIGHUP: ACL policy reloaded"
                                 and e.get("rules") == "1" for e in node.events),
                     20, "a reload with one rule")
        error = rpc_error(lambda: produce(pb, stub, b"no longer"))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert consume(pb, stub, 0) == b"still allowed"
    assert node.stop() == 0


@pytest.mark.parametrize("given,missing", [
    (("cert",), "--server-tls-key-file"),
    (("cert", "key"), "--server-tls-ca-file"),
    (("key", "ca"), "--server-tls-cert-file"),
])
def test_partial_tls_flags_exit_2_before_touching_the_data_dir(certs, tmp_path, given, missing):
    files = {"cert": certs["server"].cert, "key": certs["server"].key, "ca": certs["ca"].cert}
    args = []
    for part in given:
        args += [f"--server-tls-{part}-file", files[part]]
    result = harness.run_cli("--data-dir", tmp_path / "d", "--rpc-port", "0",
                             "--bind-addr", "127.0.0.1:0", *args)
    assert result.returncode == 2, result
    assert missing.encode() in result.stderr, result.stderr
    assert not (tmp_path / "d").exists()


def test_acl_without_tls_exits_2(acl, tmp_path):
    model, policy = acl
    result = harness.run_cli("--data-dir", tmp_path / "d", "--rpc-port", "0",
                             "--bind-addr", "127.0.0.1:0",
                             "--acl-model-file", model, "--acl-policy-file", policy)
    assert result.returncode == 2, result
    assert b"--server-tls" in result.stderr


def test_without_tls_flags_the_node_warns_and_serves_plaintext(pb, node):
    assert any(e.get("level") in ("warn", "warning") and "plaintext" in e.get("msg", "")
               for e in node.events), node.output()
    with harness.channel(node.rpc_addr) as ch:
        assert produce(pb, pb.log_grpc.LogStub(ch), b"open") == 0


def client_tls_flags(certs, who):
    return ["--tls-ca-file", certs["ca"].cert, "--tls-cert-file", certs[who].cert,
            "--tls-key-file", certs[who].key]


def test_client_subcommands_over_tls(certs, secure_node):
    addr = ["--addr", secure_node.rpc_addr]
    produced = harness.run_cli("produce", *addr, *client_tls_flags(certs, "root"), "a", "b")
    assert (produced.returncode, produced.stdout) == (0, b"0\n1\n"), produced
    env = {"PROGLOG_TLS_CA_FILE": str(certs["ca"].cert),
           "PROGLOG_TLS_CERT_FILE": str(certs["root"].cert),
           "PROGLOG_TLS_KEY_FILE": str(certs["root"].key)}
    consumed = harness.run_cli("consume", *addr, "--offset", "0", env=env)
    assert (consumed.returncode, consumed.stdout) == (0, b"a\nb\n"), consumed
    servers = harness.run_cli("servers", *addr, "--tls-server-name", "localhost", env=env)
    assert servers.returncode == 0, servers
    assert servers.stdout.decode().split("\t")[:2] == ["n1", secure_node.rpc_addr]

    for values in (["x"], ["x", "y", "z"]):  # a unary Produce and a ProduceStream
        denied = harness.run_cli("produce", *addr, *client_tls_flags(certs, "nobody"), *values)
        assert denied.returncode == 1, denied
        assert b"PERMISSION_DENIED" in denied.stderr and b"nobody" in denied.stderr, denied.stderr
    consumed = harness.run_cli("consume", *addr, "--offset", "0", env=env)
    assert consumed.stdout == b"a\nb\n"  # nothing of nobody's got in
    plaintext = harness.run_cli("consume", *addr, "--timeout", "5s")
    assert plaintext.returncode == 1 and b"UNAVAILABLE" in plaintext.stderr, plaintext


def test_cert_subcommand_output_passes_openssl_verify(pb, tmp_path):
    out = tmp_path / "certs"
    made = harness.run_cli("cert", "ca", "--dir", out)
    assert made.returncode == 0, made
    for role, cn in (("server", "n1"), ("client", "root"), ("peer", "n2")):
        issued = harness.run_cli("cert", "issue", "--role", role, "--cn", cn, "--dir", out,
                                 "--host", "127.0.0.1", "--host", "localhost")
        assert issued.returncode == 0, issued
    ca = out / "ca.pem"
    checks = [("server.pem", "sslserver"), ("root-client.pem", "sslclient"),
              ("n2-peer.pem", "sslserver"), ("n2-peer.pem", "sslclient")]
    for cert, purpose in checks:
        verified = pki.verify(ca, out / cert, purpose)
        assert verified.returncode == 0 and b": OK" in verified.stdout, (cert, verified)
    wrong = pki.verify(ca, out / "root-client.pem", "sslserver")
    assert wrong.returncode != 0  # a client certificate does not serve
    server_text = pki.text(out / "server.pem")
    assert "IP Address:127.0.0.1" in server_text and "DNS:localhost" in server_text
    assert "CN = root" in pki.text(out / "root-client.pem")
    again = harness.run_cli("cert", "ca", "--dir", out)
    assert again.returncode != 0  # never replaces existing files unasked

    # The proglog-made certificates serve a grpcio client end to end.
    server = pki.Leaf(out / "server.pem", out / "server-key.pem", ca)
    root = pki.Leaf(out / "root-client.pem", out / "root-client-key.pem", ca)
    args = ["--server-tls-cert-file", server.cert, "--server-tls-key-file", server.key,
            "--server-tls-ca-file", ca]
    with harness.Node(tmp_path / "data", "--node-name", "n1", *args) as node:
        creds = grpc.ssl_channel_credentials(ca.read_bytes(), root.key.read_bytes(),
                                             root.cert.read_bytes())
        with grpc.secure_channel(node.rpc_addr, creds) as ch:
            assert produce(pb, pb.log_grpc.LogStub(ch), b"hello") == 0


def test_failed_handshakes_are_structured_rate_limited_json_lines(pb, certs, secure_node):
    # Plaintext clients and raw garbage against the TLS port: gRPC logs each
    # failed handshake; every line of the node's log must still be our JSON.
    host, port = secure_node.rpc_addr.rsplit(":", 1)
    for _ in range(30):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello, not a ClientHello")
    with harness.channel(secure_node.rpc_addr) as ch:
        with pytest.raises(grpc.RpcError):
            pb.log_grpc.LogStub(ch).Produce(
                pb.log.ProduceRequest(record=pb.log.Record(value=b"plain")), timeout=5)
    handshakes = harness.poll(
        lambda: [e for e in list(secure_node.events) if e.get("msg") == "TLS handshake failed"],
        20, "failed handshakes in the node's log")
    assert all(e["level"] == "warning" and e.get("reason") and e.get("grpc_message")
               for e in handshakes), handshakes
    grpc_lines = [e for e in list(secure_node.events)
                  if e.get("msg") in ("grpc", "TLS handshake failed")]
    assert all(e["level"] in ("warning", "warn", "info", "debug") for e in grpc_lines), grpc_lines
    assert all(e.get("grpc_message") for e in grpc_lines), grpc_lines
    # 30 failures in well under a few seconds: the limiter lets through at most
    # 5 a second, so fewer lines than failures reach the log.
    assert len(grpc_lines) < 30, len(grpc_lines)
    for line in list(secure_node.lines):
        assert isinstance(json.loads(line), dict), line


def test_a_failed_handshake_names_the_client_that_made_it(certs, secure_node):
    # gRPC does not say who failed; the node must (the mux watches new connections).
    host, port = secure_node.rpc_addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        garbage_from = "%s:%d" % sock.getsockname()
        sock.sendall(b"\x16\x03\x01\x00\x05hello, not a ClientHello")
        assert sock.recv(100) == b""  # the node closes it
    context = ssl.create_default_context(cafile=str(certs["ca"].cert))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        no_certificate_from = "%s:%d" % sock.getsockname()
        try:  # TLS 1.3: the refusal of the missing certificate comes at the first read
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.recv(10)
        except OSError:
            pass

    def failed_handshakes():
        found = [e for e in list(secure_node.events) if e.get("msg") == "TLS handshake failed"]
        return found if len(found) >= 2 else None

    warnings = harness.poll(failed_handshakes, 20, "two failed handshakes in the node's log")
    by_peer = {e.get("peer"): e["reason"] for e in warnings}
    assert by_peer == {garbage_from: "unexpected message",
                       no_certificate_from: "peer did not return a certificate"}, warnings


def test_a_client_that_refuses_the_servers_certificate_is_named(certs, secure_node):
    # Its alert and its reset come together, often before gRPC has logged anything;
    # several clients, since that race is not lost every time.
    host, port = secure_node.rpc_addr.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(certs["self_root"].cert))  # not our CA
    context.load_cert_chain(str(certs["root"].cert), str(certs["root"].key))
    context.set_alpn_protocols(["h2"])
    clients = []
    for _ in range(4):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            clients.append("%s:%d" % sock.getsockname())
            with pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(sock, server_hostname="localhost")
        time.sleep(0.3)  # under the log's limit of 5 lines a second

    def failed_handshakes():
        found = [e for e in list(secure_node.events) if e.get("msg") == "TLS handshake failed"]
        return found if len(found) >= len(clients) else None

    warnings = harness.poll(failed_handshakes, 20, "a failed handshake per client in the log")
    assert [(e.get("peer"), e["reason"]) for e in warnings] == [
        (client, "tlsv1 alert unknown ca") for client in clients], warnings
