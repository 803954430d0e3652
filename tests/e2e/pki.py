"""Certificates for the TLS tests, made by the `openssl` command line alone.

Nothing here uses proglog, so the server is checked against certificates from an
independent tool: a CA, a server certificate for 127.0.0.1/localhost and client
certificates whose Common Name is the subject the ACL sees.
"""

import subprocess
from pathlib import Path

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def openssl(*args, cwd=None):
    result = subprocess.run(["openssl", *[str(a) for a in args]], cwd=cwd, capture_output=True,
                            timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n"
                           + result.stderr.decode(errors="replace"))
    return result


class Ca:
    """A certificate authority in `folder`: <name>.pem and <name>-key.pem."""

    def __init__(self, folder: Path, name: str = "ca", common_name: str = "e2e test CA"):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.cert = folder / f"{name}.pem"
        self.key = folder / f"{name}-key.pem"
        openssl("req", "-x509", *EC_KEY, "-keyout", self.key, "-out", self.cert, "-days", "2",
                "-subj", f"/CN={common_name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, common_name: str, usage: str, hosts=()) -> "Leaf":
        """A leaf signed by this CA; usage is serverAuth, clientAuth or both (comma)."""
        stem = self.folder / f"{common_name}-{usage.replace(',', '-')}"
        csr = stem.with_suffix(".csr")
        leaf = Leaf(stem.with_suffix(".pem"), Path(f"{stem}-key.pem"), self.cert)
        openssl("req", "-new", *EC_KEY, "-keyout", leaf.key, "-out", csr,
                "-subj", f"/CN={common_name}")
        extensions = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                      f"extendedKeyUsage={usage}"]
        if hosts:
            names = [f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts]
            extensions.append("subjectAltName=" + ",".join(names))
        ext_file = stem.with_suffix(".ext")
        ext_file.write_text("\n".join(extensions) + "\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-days", "1", "-extfile", ext_file, "-out", leaf.cert)
        return leaf


class Leaf:
    def __init__(self, cert: Path, key: Path, ca: Path):
        self.cert = cert
        self.key = key
        self.ca = ca


def self_signed(folder: Path, common_name: str) -> Leaf:
    """A certificate that is its own issuer: no cluster CA vouches for it."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{common_name}-self.pem", folder / f"{common_name}-self-key.pem"
    openssl("req", "-x509", *EC_KEY, "-keyout", key, "-out", cert, "-days", "1",
            "-subj", f"/CN={common_name}", "-addext", "extendedKeyUsage=clientAuth")
    return Leaf(cert, key, cert)


def verify(ca: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess:
    """`openssl verify` of cert against ca for purpose sslserver or sslclient."""
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)],
                          capture_output=True, timeout=60)


def text(cert: Path) -> str:
    return openssl("x509", "-in", cert, "-noout", "-text").stdout.decode()
