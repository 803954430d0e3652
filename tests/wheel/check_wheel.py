"""Checks an installed repaired wheel: its libraries are its own, and it works without the system's.

Usage: python3 check_wheel.py --wheel W --raw-wheel U --venv V --proglog-bin B --readme R
                              --policy P --work D
(U: the wheel before the repair; V: a virtualenv with only W installed; P: auditwheel's
manylinux-policy.json.)

1. ldd of every ELF file of the installed package: each dependency resolves inside the package
   (proglog/ or proglog.libs/) or is a library the wheel's manylinux policy lets a wheel assume.
2. /proc/self/maps of a process that imports proglog and makes a mutual-TLS call to a real
   `proglog` server, with the system's gRPC, protobuf, abseil, OpenSSL... all present: every
   file the import maps is the package's, the policy's or the interpreter's own.
3. The clean root: in a mount namespace, /usr/lib/x86_64-linux-gnu (also /lib/x86_64-linux-gnu,
   a symlink on Debian) is replaced by a directory holding only the policy's libraries, the
   dynamic loader and what the interpreter itself links (libffi for ctypes); none of the
   libraries the wheel grafted is left anywhere the loader looks (checked there), and the
   unrepaired libproglog, which loads outside, fails to load there (the control). In it the
   README's Python example runs as written, and the README's client calls run against the
   server over mutual TLS; the records they wrote are then read back with the `proglog` CLI.
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Union

MULTIARCH = Path("/usr/lib/x86_64-linux-gnu")
LOADER = "ld-linux-x86-64.so.2"
HERE = Path(__file__).resolve().parent
Arg = Union[str, Path]


def fail(message: str) -> NoReturn:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(args: list[Arg], **kwargs: Any) -> str:
    """Runs a command to completion and returns its stdout; fails the check if it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180,
                          check=False, **kwargs)
    if done.returncode != 0:
        fail(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return str(done.stdout)


def inside(path: Union[str, Path], dirs: list[Path]) -> bool:
    return any(Path(path).resolve().is_relative_to(d) for d in dirs)


def ldd(path: Path) -> dict[str, str]:
    """soname -> resolved path (or 'not found') of every library `path` needs, transitively."""
    deps = {}
    for line in run(["ldd", path]).splitlines():
        if "=>" in line:
            name, target = (s.strip() for s in line.split("=>", 1))
            deps[name] = target.split(" (")[0].strip()
        elif line.strip().startswith("/"):
            target = line.strip().split(" (")[0]
            deps[os.path.basename(target)] = target
    return deps


def system_library(soname: str) -> Union[Path, None]:
    path = MULTIARCH / soname
    return path.resolve() if path.exists() else None


@dataclass
class Installed:
    """Where the wheel went in the venv, and what its manylinux tag lets it take from the system."""
    venv: Path
    package_dirs: list[Path]  # proglog/ and proglog.libs/
    stdlib: Path  # the standard library of the Python the venv was made from
    allowed: set[str]  # sonames: the policy's libraries, the loader, the vDSO

    @property
    def python(self) -> Path:
        return self.venv / "bin/python"

    @property
    def libs_dir(self) -> Path:
        return self.package_dirs[1]


def installed(venv: Path, wheel: Path, policy_json: Path) -> Installed:
    out = run([venv / "bin/python", "-c", "import os, sysconfig; "
               "print(sysconfig.get_path('platlib')); print(os.path.dirname(os.__file__))"])
    platlib, stdlib = (Path(p) for p in out.split())
    tag = re.search(r"-(manylinux_\d+_\d+)_x86_64\.whl$", wheel.name)
    if not tag:
        fail(f"{wheel.name} has no manylinux_X_Y_x86_64 tag")
    policies = {p["name"]: p for p in json.loads(policy_json.read_text(encoding="utf-8"))}
    if tag.group(1) not in policies:
        fail(f"auditwheel's {policy_json} has no policy {tag.group(1)}")
    allowed = set(policies[tag.group(1)]["lib_whitelist"]) | {LOADER, "linux-vdso.so.1"}
    found = Installed(venv, [platlib / "proglog", platlib / "proglog.libs"], stdlib.resolve(),
                      allowed)
    if not found.libs_dir.is_dir() or not any(found.libs_dir.iterdir()):
        fail(f"{found.libs_dir} is missing or empty: the wheel was not repaired")
    return found


def check_ldd(wheel: Installed) -> None:
    elf_files = [f for d in wheel.package_dirs for f in sorted(d.iterdir()) if ".so" in f.name]
    for elf in elf_files:
        for name, target in ldd(elf).items():
            if target == "not found":
                fail(f"{elf.name} needs {name}, which is not found")
            if not inside(target, wheel.package_dirs) and name not in wheel.allowed:
                fail(f"{elf.name} needs {name} from {target}, outside the wheel")
    print(f"ldd: every dependency of the wheel's {len(elf_files)} ELF files resolves inside "
          "the wheel or is a manylinux base library")


def check_licenses(wheel_file: Path) -> None:
    """Every grafted library's Debian copyright file is in the wheel, and our LICENSE."""
    with zipfile.ZipFile(wheel_file) as z:
        names = set(z.namelist())
        (index_name,) = [n for n in names if n.endswith("/licenses/third_party/libraries.txt")]
        notices = index_name.rsplit("/", 1)[0]
        listed = dict(line.split("\t") for line in z.read(index_name).decode().splitlines()
                      if line and not line.startswith("#"))
    grafted = {n.split("/", 1)[1] for n in names if n.startswith("proglog.libs/")}
    if set(listed) != grafted:
        fail(f"libraries.txt lists {sorted(set(listed) ^ grafted)} differently from proglog.libs/")
    missing = sorted({p for p in listed.values() if f"{notices}/{p}.copyright" not in names})
    if missing:
        fail(f"no copyright file in the wheel for the Debian packages {missing}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        fail("the wheel lacks the project's LICENSE")
    print(f"licences: the {len(grafted)} grafted libraries' notices are in the wheel "
          f"({len(set(listed.values()))} Debian packages), and LICENSE")


class Server:
    """A real `proglog` node with mutual TLS, on free ports, logging JSON to stderr."""

    def __init__(self, binary: Path, work: Path, pki: Path) -> None:
        self.proc = subprocess.Popen(
            [str(a) for a in [
                binary, "serve", "--data-dir", work / "data", "--node-name", "wheel",
                "--rpc-port", "0", "--bind-addr", "127.0.0.1:0", "--bootstrap",
                "--log-format", "json", "--server-tls-cert-file", pki / "server.pem",
                "--server-tls-key-file", pki / "server-key.pem",
                "--server-tls-ca-file", pki / "ca.pem"]],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.lines: list[str] = []
        self.addr = ""
        self._serving = threading.Event()
        threading.Thread(target=self._read_log, daemon=True).start()
        # Set once the node logs `serving`, or once its log ends (it exited).
        self._serving.wait(60)
        if not self.addr:
            self.stop()
            fail("the proglog server did not log 'serving':\n" + "".join(self.lines))

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("msg") == "serving" and not self.addr:
                self.addr = event["rpc_addr"]
                self._serving.set()
        self._serving.set()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def interpreter_needs(wheel: Installed, extension_modules: list[str]) -> dict[str, Path]:
    """soname -> system path of what the interpreter and the stdlib extension modules it
    imported link (libffi for ctypes)."""
    needs = {}
    own = [Path(m) for m in extension_modules if inside(m, [wheel.stdlib])]
    for elf in [wheel.python.resolve(), *own]:
        for name, target in ldd(elf).items():
            if target.startswith("/") and inside(target, [MULTIARCH]):
                needs[name] = Path(target).resolve()
    return needs


def check_mapped(wheel: Installed, tls_call: list[Arg], example: str) -> dict[str, Path]:
    """Checks what importing proglog maps; returns what the interpreter itself needs."""
    probe = json.loads(run([wheel.python, HERE / "probe_loaded.py", *tls_call,
                            *example_imports(example)]))
    needs = interpreter_needs(wheel, probe["extension_modules"])
    allowed_paths = {p for p in map(system_library, wheel.allowed) if p} | set(needs.values())
    others = []
    for mapped in probe["new"]:
        if inside(mapped, wheel.package_dirs):
            continue
        if not inside(mapped, [wheel.stdlib]) and Path(mapped).resolve() not in allowed_paths:
            fail(f"importing proglog mapped {mapped}, neither the wheel's nor a base library")
        others.append(os.path.basename(mapped))
    print(f"maps: importing proglog and a TLS call mapped {len(probe['new'])} new files: "
          f"{len(probe['new']) - len(others)} from the wheel, the rest the interpreter's "
          f"modules or manylinux base libraries ({', '.join(sorted(others))})")
    return needs


def stage_clean_root(wheel: Installed, needs: dict[str, Path], stage: Path) -> None:
    """Fills `stage`, the library directory of the clean root, and checks from inside it that
    the loader can find none of the libraries the wheel grafted (but those the interpreter
    needs itself)."""
    base = {name: path for name in wheel.allowed if (path := system_library(name))}
    base.update(needs)
    stage.mkdir()
    for soname, source in sorted(base.items()):
        shutil.copy2(source, stage / soname)
    grafted = grafted_stems(wheel.libs_dir)
    kept = grafted & {name.split(".so")[0] for name in base}
    left = run_in_clean_root(stage, [wheel.python, HERE / "leftovers.py", *sorted(grafted - kept)],
                             stage.parent)
    if left:
        fail("the clean root still holds libraries the wheel should bring:\n" + left)
    print(f"clean root: {MULTIARCH} holds {len(base)} libraries ({', '.join(sorted(base))}); "
          f"the loader finds {len(grafted) - len(kept)} of the wheel's {len(grafted)} grafted "
          f"libraries nowhere (kept for the interpreter: {', '.join(sorted(kept)) or 'none'})")


def check_control(wheel: Installed, stage: Path, raw_wheel: Path) -> None:
    """The control: libproglog as `pip wheel` built it, before the repair, loads on this
    machine but not in the clean root, which shows the root really lacks its libraries."""
    with zipfile.ZipFile(raw_wheel) as raw:
        unrepaired = Path(raw.extract("proglog/libproglog.so.0", stage.parent / "unrepaired"))
    load: list[Arg] = [wheel.python, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])",
                       unrepaired]
    run(load)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    done = subprocess.run([str(a) for a in [*clean_root_prefix(stage), *load]],
                          capture_output=True, text=True, timeout=180, env=env, check=False)
    if done.returncode == 0 or "cannot open shared object file" not in done.stderr:
        fail("the unrepaired libproglog loaded in the clean root, or failed for another "
             f"reason (exit {done.returncode}):\n{done.stderr}")
    missing = done.stderr.strip().splitlines()[-1]
    print(f"clean root: the unrepaired libproglog does not load there ({missing})")


def grafted_stems(libs_dir: Path) -> set[str]:
    """'libgrpc' for libgrpc-3a193dd3.so.29.0.0, 'libldap-2.5' for libldap-2-062bb940.5.so.0."""
    return {re.sub(r"-[0-9a-f]{8}(?=\.)", "", f.name, count=1).split(".so")[0]
            for f in libs_dir.iterdir()}


def clean_root_prefix(stage: Path) -> list[Arg]:
    """The command that runs what follows it with `stage` mounted over the multiarch library
    directory, in a private mount namespace (nothing outside that command sees it). Only sh
    (libc alone) runs between the mount and the exec."""
    unshare: list[Arg] = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    script = 'mount --bind "$0" "$1" && shift && exec "$@"'
    return [*unshare, "sh", "-c", script, stage, MULTIARCH]


def run_in_clean_root(stage: Path, args: list[Arg], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    return run([*clean_root_prefix(stage), *args], cwd=cwd, env=env)


def readme_example(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    region = text[text.index("<!-- sdk:begin"):text.index("<!-- sdk:end -->")]
    examples = re.findall(r"^```python\n(.*?)^```$", region, re.M | re.S)
    if len(examples) != 1:
        fail(f"expected one Python example in the README's SDK section, found {len(examples)}")
    return str(examples[0])


def example_imports(code: str) -> list[str]:
    names = []
    for node in ast.parse(code).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] != "proglog"]
    return names


def run_readme_example(wheel: Installed, stage: Path, example: str) -> None:
    script = stage.parent / "readme_example.py"
    script.write_text(example, encoding="utf-8")
    out = run_in_clean_root(stage, [wheel.python, script], stage.parent)
    for expected in ("b'c'", "b'later'", "b'once'"):
        if expected not in out:
            fail(f"the README example's output lacks {expected}:\n{out}")
    print("clean root: the README's Python example ran (embedded node and client)")


def run_against_server(wheel: Installed, stage: Path, binary: Path, tls_call: list[Arg]) -> None:
    out = run_in_clean_root(stage, [wheel.python, HERE / "against_server.py", *tls_call],
                            stage.parent)
    if not out.startswith("ok"):
        fail(f"against_server.py printed {out!r}")
    addr, ca, cert, key = tls_call
    values = run([binary, "consume", "--addr", addr, "--tls-ca-file", ca,
                  "--tls-cert-file", cert, "--tls-key-file", key]).split()
    if values[-4:] != ["a", "b", "c", "later"]:
        fail(f"the server's log ends with {values[-4:]}, not what the wheel's client wrote")
    print(f"clean root: the README's client calls ran against the proglog server at {addr} "
          "over mutual TLS; `proglog consume` reads back what they wrote")


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("wheel", "raw-wheel", "venv", "proglog-bin", "readme", "policy", "work"):
        parser.add_argument("--" + flag, type=Path, required=True)
    opts = parser.parse_args()
    work, binary = opts.work.resolve(), opts.proglog_bin.resolve()
    wheel = installed(opts.venv, opts.wheel, opts.policy)
    check_ldd(wheel)
    check_licenses(opts.wheel)

    pki = work / "pki"
    run([binary, "cert", "ca", "--dir", pki])
    run([binary, "cert", "issue", "--dir", pki, "--role", "server", "--cn", "wheel"])
    run([binary, "cert", "issue", "--dir", pki, "--role", "client", "--cn", "root"])
    example = readme_example(opts.readme)
    server = Server(binary, work, pki)
    try:
        tls_call: list[Arg] = [server.addr, pki / "ca.pem", pki / "root-client.pem",
                               pki / "root-client-key.pem"]
        needs = check_mapped(wheel, tls_call, example)
        stage = work / "base"
        stage_clean_root(wheel, needs, stage)
        check_control(wheel, stage, opts.raw_wheel)
        run_readme_example(wheel, stage, example)
        run_against_server(wheel, stage, binary, tls_call)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
