"""The Client's TLS options against the real `proglog` server with mutual TLS and
an ACL, using certificates made by the `openssl` command line alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import proglog
from conftest import ServerProcess

# The certificate and ACL helpers are shared with the server's end-to-end tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "e2e"))
import pki as openssl_pki  # noqa: E402
from acl_files import MODEL_CONF, POLICY_CSV  # noqa: E402

# Every failing call below must end within this deadline: refused, never hung.
CALL_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("pki")
    ca = openssl_pki.Ca(folder / "cluster", common_name="cluster CA")
    other = openssl_pki.Ca(folder / "other", common_name="other CA")

    def files(leaf: openssl_pki.Leaf) -> tuple[str, str]:
        return str(leaf.cert), str(leaf.key)

    return {
        "ca": (str(ca.cert), str(ca.key)),
        "other_ca": (str(other.cert), str(other.key)),
        "server": files(ca.issue("server", "serverAuth", hosts=("127.0.0.1",))),
        "root": files(ca.issue("root", "clientAuth")),
        "nobody": files(ca.issue("nobody", "clientAuth")),
        "other_root": files(other.issue("root", "clientAuth")),
    }


@pytest.fixture(scope="module")
def secure_server(pki: dict[str, tuple[str, str]],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("secure")
    (folder / "model.conf").write_text(MODEL_CONF)
    (folder / "policy.csv").write_text(POLICY_CSV)
    args = ["--server-tls-cert-file", pki["server"][0], "--server-tls-key-file", pki["server"][1],
            "--server-tls-ca-file", pki["ca"][0],
            "--acl-model-file", str(folder / "model.conf"),
            "--acl-policy-file", str(folder / "policy.csv")]
    server = ServerProcess(folder / "data", args)
    try:
        assert server.address is not None
        yield server.address
    finally:
        server.stop()


def tls_client(address: str, pki: dict[str, tuple[str, str]], who: str | None,
               ca: str = "ca") -> proglog.Client:
    cert, key = pki[who] if who else (None, None)
    return proglog.Client(address, timeout=CALL_TIMEOUT, ca_file=pki[ca][0], cert_file=cert,
                          key_file=key)


def test_root_produces_consumes_and_streams(secure_server: str,
                                            pki: dict[str, tuple[str, str]]) -> None:
    with tls_client(secure_server, pki, "root") as client:
        first = client.produce(b"over tls")
        assert client.consume(first).value == b"over tls"
        more = client.produce_many([b"a", b"b", b"c"])
        assert more == [first + 1, first + 2, first + 3]
        with client.stream(first) as stream:
            got = [stream.next(timeout=CALL_TIMEOUT) for _ in range(4)]
            assert [r.value for r in got if r] == [b"over tls", b"a", b"b", b"c"]
            tail = client.produce(b"tail")
            record = stream.next(timeout=CALL_TIMEOUT)
            assert record is not None and (record.offset, record.value) == (tail, b"tail")


def test_server_name_option_verifies_the_san(secure_server: str,
                                             pki: dict[str, tuple[str, str]]) -> None:
    cert, key = pki["root"]
    # Paths may be os.PathLike as well as str.
    with proglog.Client(secure_server, timeout=CALL_TIMEOUT, ca_file=Path(pki["ca"][0]),
                        cert_file=Path(cert), key_file=Path(key),
                        server_name="127.0.0.1") as client:
        offset = client.produce(b"named")
        assert client.consume(offset).value == b"named"
    with proglog.Client(secure_server, timeout=CALL_TIMEOUT, ca_file=pki["ca"][0],
                        cert_file=cert, key_file=key, server_name="not-the-server") as client:
        with pytest.raises((proglog.Unavailable, proglog.Unauthenticated)):
            client.produce(b"must not land")


def test_nobody_is_denied_with_its_subject_named(secure_server: str,
                                                 pki: dict[str, tuple[str, str]]) -> None:
    with tls_client(secure_server, pki, "root") as root:
        offset = root.produce(b"secret")
    with tls_client(secure_server, pki, "nobody") as client:
        with pytest.raises(proglog.PermissionDenied) as produce_error:
            client.produce(b"denied")
        assert "nobody" in str(produce_error.value)
        assert produce_error.value.code == -5 and not produce_error.value.retryable
        with pytest.raises(proglog.PermissionDenied) as consume_error:
            client.consume(offset)
        assert "nobody" in str(consume_error.value)
        with pytest.raises(proglog.PermissionDenied):
            client.produce_many([b"x", b"y"])
        with client.stream(offset) as stream, pytest.raises(proglog.PermissionDenied):
            stream.next(timeout=CALL_TIMEOUT)
    with tls_client(secure_server, pki, "root") as root:
        # The denied writes left nothing behind.
        with pytest.raises(proglog.OffsetOutOfRange):
            root.consume(offset + 1)


REFUSED = (proglog.Unavailable, proglog.Unauthenticated)


@pytest.mark.parametrize("who, ca", [
    (None, "ca"),              # no client certificate
    ("other_root", "ca"),      # a "root" certificate from another CA
    ("root", "other_ca"),      # the client does not trust the server's CA
])
def test_untrusted_tls_is_refused(secure_server: str, pki: dict[str, tuple[str, str]],
                                  who: str | None, ca: str) -> None:
    with tls_client(secure_server, pki, who, ca) as client:
        with pytest.raises(REFUSED) as error:
            client.produce(b"refused")
        assert str(error.value)
        with pytest.raises(REFUSED):
            client.consume(0)


def test_plaintext_client_is_refused(secure_server: str) -> None:
    with proglog.Client(secure_server, timeout=CALL_TIMEOUT) as client:
        with pytest.raises(REFUSED) as error:
            client.produce(b"plain")
        assert str(error.value)


def test_missing_tls_file_is_a_clear_error(secure_server: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(proglog.Error) as error:
        with proglog.Client(secure_server, timeout=CALL_TIMEOUT, ca_file=missing) as client:
            client.produce(b"x")
    assert "no-such-ca.pem" in str(error.value)


def test_tls_file_of_the_wrong_type_is_a_type_error(secure_server: str) -> None:
    with pytest.raises(TypeError, match="ca_file"):
        proglog.Client(secure_server, ca_file=b"ca.pem")  # type: ignore[arg-type]


@pytest.fixture()
def acl_dir(tmp_path: Path) -> Path:
    (tmp_path / "model.conf").write_text(MODEL_CONF)
    (tmp_path / "policy.csv").write_text(POLICY_CSV)
    return tmp_path


def secure_node(folder: Path, pki: dict[str, tuple[str, str]], **extra: object) -> proglog.Node:
    return proglog.Node(folder / "data", server_tls_cert_file=pki["server"][0],
                        server_tls_key_file=pki["server"][1], server_tls_ca_file=pki["ca"][0],
                        acl_model_file=folder / "model.conf",
                        acl_policy_file=folder / "policy.csv", **extra)  # type: ignore[arg-type]


def test_embedded_node_serves_mutual_tls_with_its_acl(acl_dir: Path,
                                                      pki: dict[str, tuple[str, str]]) -> None:
    with secure_node(acl_dir, pki) as node:
        with tls_client(node.address, pki, "root") as root:
            offset = root.produce(b"embedded and secure")
            assert root.consume(offset).value == b"embedded and secure"
        with tls_client(node.address, pki, "nobody") as nobody:
            with pytest.raises(proglog.PermissionDenied):
                nobody.produce(b"denied")
        with proglog.Client(node.address, timeout=CALL_TIMEOUT) as plain:
            with pytest.raises(REFUSED):
                plain.consume(offset)


def replace_file(path: Path, text: str) -> None:
    """Swaps the file's content in one step, as editors do: the node's file
    watcher may reload at any moment, and a file rewritten in place can be read
    half-written (empty, say, which parses)."""
    staged = path.with_name(path.name + ".next")
    staged.write_text(text)
    os.replace(staged, path)


def test_embedded_node_reloads_its_acl(acl_dir: Path, pki: dict[str, tuple[str, str]]) -> None:
    with secure_node(acl_dir, pki) as node:
        with tls_client(node.address, pki, "nobody") as nobody:
            with pytest.raises(proglog.PermissionDenied):
                nobody.produce(b"before")
            replace_file(acl_dir / "policy.csv", POLICY_CSV + "p, nobody, *, produce\n")
            node.reload_acl()
            assert nobody.produce(b"after") == 0
            replace_file(acl_dir / "policy.csv", "p, nobody\n")  # does not parse
            with pytest.raises(proglog.InvalidArgument):
                node.reload_acl()
            assert nobody.produce(b"old policy stays") == 1


def test_embedded_node_with_a_partial_tls_set_is_refused_before_its_data_dir(
        tmp_path: Path, pki: dict[str, tuple[str, str]]) -> None:
    with pytest.raises(proglog.InvalidArgument, match="server_tls_key_file"):
        proglog.Node(tmp_path / "data", server_tls_cert_file=pki["server"][0])
    assert not (tmp_path / "data").exists()
    with pytest.raises(proglog.InvalidArgument, match="need server_tls_"):
        proglog.Node(tmp_path / "data", acl_model_file="m.conf", acl_policy_file="p.csv")
    with pytest.raises(proglog.InvalidArgument, match="no-such-cert.pem"):
        proglog.Node(tmp_path / "data", server_tls_cert_file=tmp_path / "no-such-cert.pem",
                     server_tls_key_file=pki["server"][1], server_tls_ca_file=pki["ca"][0])
    assert not (tmp_path / "data").exists()
    with proglog.Node(tmp_path / "plain") as plain, pytest.raises(proglog.InvalidArgument):
        plain.reload_acl()
