"""The embedded node's logs go to the "proglog" logger, never to the process's
stdout or stderr: an embedded TLS node hit by failed handshakes."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytest

import proglog

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "e2e"))
import pki as openssl_pki  # noqa: E402


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def fail_handshakes(address: str, ca_file: str) -> None:
    """A plaintext client and a TLS client without a certificate."""
    for kwargs in ({}, {"ca_file": ca_file}):
        with proglog.Client([address], timeout=5, **kwargs) as client:  # type: ignore[arg-type]
            with pytest.raises(proglog.Error):
                client.produce(b"x")


@pytest.mark.parametrize("clustered", [False, True], ids=["standalone", "clustered"])
def test_failed_handshakes_reach_the_logger_and_nothing_reaches_stderr(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], clustered: bool) -> None:
    ca = openssl_pki.Ca(tmp_path / "ca", common_name="logging CA")
    server = ca.issue("server", "serverAuth", hosts=("127.0.0.1",))
    logger = logging.getLogger("proglog")
    records = Records()
    logger.addHandler(records)
    cluster = {"cluster": True, "bind_addr": "127.0.0.1:0", "bootstrap": True} if clustered else {}
    try:
        with proglog.Node(tmp_path / "data", server_tls_cert_file=str(server.cert),
                          server_tls_key_file=str(server.key),
                          server_tls_ca_file=str(ca.cert), **cluster) as node:
            fail_handshakes(node.address, str(ca.cert))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(
                    r.getMessage().startswith("TLS handshake failed") for r in records.records):
                time.sleep(0.02)
    finally:
        logger.removeHandler(records)
    warnings = [r for r in records.records if r.getMessage().startswith("TLS handshake failed")]
    assert warnings, [r.getMessage() for r in records.records]
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].proglog_fields["reason"]  # type: ignore[attr-defined]
    if clustered:
        # The port mux watches TLS connections and names the client gRPC refused; a
        # standalone node's gRPC listens itself and names nobody.
        peers = [r.proglog_fields.get("peer", "") for r in warnings]  # type: ignore[attr-defined]
        assert any(p.startswith("127.0.0.1:") for p in peers), peers
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""
