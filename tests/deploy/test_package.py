"""The Debian package: built with CPack as `make package` builds it, accepted by lintian
without errors, its unit accepted by `systemd-analyze verify`, installed into a throwaway
root with dpkg, and the installed binary runs a node from the installed conffile."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    path = os.environ.get("PROGLOG_BUILD_DIR")
    if not path:
        raise RuntimeError("set PROGLOG_BUILD_DIR to the CMake build dir (ctest does)")
    return Path(path)


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def deb() -> Path:
    build = build_dir()
    run("cmake", "--build", str(build), "--target", "proglog", "proglog_package_files")
    run("cpack", "--config", "CPackConfig.cmake", cwd=build)
    version = re.search(r'CPACK_PACKAGE_VERSION "([^"]+)"',
                        (build / "CPackConfig.cmake").read_text()).group(1)
    path = build / "package" / f"proglog_{version}_amd64.deb"
    assert path.is_file(), f"cpack made no {path.name}"
    return path


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="proglog-deb-root-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_lintian_reports_no_errors(deb):
    out = subprocess.run(["lintian", "--fail-on", "error", str(deb)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not [l for l in out.stdout.splitlines() if l.startswith("E:")], out.stdout


def test_package_holds_binary_unit_conffile_and_man_page(deb):
    files = run("dpkg-deb", "--contents", str(deb)).stdout
    for path in ["./usr/bin/proglog", "./lib/systemd/system/proglog.service",
                 "./etc/proglog/proglog.yaml", "./usr/share/man/man1/proglog.1.gz",
                 "./usr/share/doc/proglog/copyright"]:
        assert path in files, f"{path} missing from the package:\n{files}"
    assert run("dpkg-deb", "--field", str(deb), "Package").stdout.strip() == "proglog"
    depends = run("dpkg-deb", "--field", str(deb), "Depends").stdout
    assert "libgrpc++" in depends and "libssl3" in depends, depends


def test_systemd_accepts_the_hardened_unit(deb, root):
    run("dpkg-deb", "--extract", str(deb), str(root))
    unit = root / "lib/systemd/system/proglog.service"
    text = unit.read_text()
    for setting in ["DynamicUser=yes", "StateDirectory=proglog", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "CapabilityBoundingSet=\n"]:
        assert setting in text, f"{setting!r} not in the unit"
    # verify checks that ExecStart's binary and the man page exist: show it the package's
    # through overlays in a private mount namespace, leaving the machine's /usr untouched.
    script = (
        "set -e\n"
        f"mount -t overlay overlay -o lowerdir={root}/usr/bin:/usr/bin /usr/bin\n"
        f"mount -t overlay overlay -o lowerdir={root}/usr/share/man/man1:/usr/share/man/man1"
        " /usr/share/man/man1\n"
        f"exec systemd-analyze verify {unit}\n")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
    exposure = run("systemd-analyze", "security", "--offline=yes", f"--root={root}",
                   str(unit)).stdout
    level = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", exposure).group(1))
    print(f"systemd-analyze security: exposure {level}")
    assert level < 2.0, exposure  # "OK" in systemd's scale (0 safest, 10 exposed)


def test_man_page_is_generated_from_help(deb, root):
    run("dpkg-deb", "--extract", str(deb), str(root))
    page = run("man", "-l", "-Tutf8", str(root / "usr/share/man/man1/proglog.1.gz"),
               env={**os.environ, "MANWIDTH": "100"}).stdout
    page = re.sub(".\b", "", page).replace("\u2010", "-")  # no overstrike, plain hyphens
    assert "--start-join-addrs" in page and "FILES" in page


def test_installs_into_a_throwaway_root_and_the_installed_binary_serves(deb, root):
    admin = root / "var/lib/dpkg"
    (admin / "updates").mkdir(parents=True)
    (admin / "info").mkdir()
    (admin / "status").touch()
    # Chrootless: maintainer scripts run here with DPKG_ROOT set and touch nothing outside.
    run("dpkg", f"--instdir={root}", f"--admindir={admin}", "--force-script-chrootless",
        "--force-depends", "--install", str(deb))
    status = run("dpkg-query", f"--admindir={admin}", "--status", "proglog").stdout
    assert "Status: install ok installed" in status
    assert re.search(r"Conffiles:\n /etc/proglog/proglog.yaml [0-9a-f]{32}", status), status

    binary = root / "usr/bin/proglog"
    assert run(str(binary), "--version").stdout.startswith("proglog ")
    data = root / "data"
    node = subprocess.Popen(
        [str(binary), "serve", "--config-file", str(root / "etc/proglog/proglog.yaml"),
         "--data-dir", str(data), "--rpc-port", "0", "--bind-addr", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True)
    try:
        addr = None
        for line in node.stderr:
            m = re.search(r"serving.*rpc_addr=(\S+)", line)
            if m:
                addr = m.group(1)
                break
        assert addr, "the installed binary did not start serving"
        offsets = run(str(binary), "produce", "--addr", addr, "--timeout", "10s", "hello")
        assert offsets.stdout.split() == ["0"]
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=60) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()

    # Removing keeps the edited conffile; purging removes it.
    conffile = root / "etc/proglog/proglog.yaml"
    conffile.write_text(conffile.read_text() + "log-level: debug\n")
    run("dpkg", f"--instdir={root}", f"--admindir={admin}", "--force-script-chrootless",
        "--remove", "proglog")
    assert not binary.exists() and conffile.exists()
    run("dpkg", f"--instdir={root}", f"--admindir={admin}", "--force-script-chrootless",
        "--purge", "proglog")
    assert not conffile.exists()
