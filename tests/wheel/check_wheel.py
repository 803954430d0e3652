"""Checks an installed repaired wheel: its libraries are its own, and it works without the system's.

Usage: python3 check_wheel.py --wheel W --venv V --proglog-bin B --readme R --policy P --work D

1. ldd of every ELF file of the installed package: each dependency resolves inside the package
   (proglog/ or proglog.libs/) or is a library the wheel's manylinux policy lets a wheel assume.
2. /proc/self/maps of a process that imports proglog and makes a mutual-TLS call to a real
   `proglog` server, with the system's gRPC, protobuf, abseil, OpenSSL... all present: every
   file the import maps is the package's, the policy's or the interpreter's own.
3. The clean root: in a mount namespace, /usr/lib/x86_64-linux-gnu (also /lib/x86_64-linux-gnu,
   a symlink on Debian) is replaced by a directory holding only the policy's libraries, the
   dynamic loader and what the interpreter itself links (libffi for ctypes); no gRPC,
   protobuf, abseil, OpenSSL or curl is left anywhere the loader looks. There the README's
   Python example runs as written, and the README's client calls run against the server over
   mutual TLS; the records they wrote are then read back with the `proglog` CLI.
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

MULTIARCH = Path("/usr/lib/x86_64-linux-gnu")
LOADER = "ld-linux-x86-64.so.2"
# The directories the dynamic loader searches besides rpaths (ld.so.conf adds more).
LOADER_DIRS = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu",
               "/usr/lib/x86_64-linux-gnu", "/usr/local/lib"]


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(args: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180,
                          **kwargs)
    if done.returncode != 0:
        fail(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def policy_libraries(policy_json: Path, wheel: Path) -> set[str]:
    """The sonames a wheel of this tag may take from the system (manylinux 'lib_whitelist')."""
    tag = re.search(r"-(manylinux_\d+_\d+)_x86_64\.whl$", wheel.name)
    if not tag:
        fail(f"{wheel.name} has no manylinux_X_Y_x86_64 tag")
    for policy in json.loads(policy_json.read_text()):
        if policy["name"] == tag.group(1):
            return set(policy["lib_whitelist"])
    fail(f"auditwheel's {policy_json} has no policy {tag.group(1)}")
    return set()


def ldd(path: Path) -> dict[str, str]:
    """soname -> resolved path (or 'not found') of every library `path` needs, transitively."""
    deps = {}
    for line in run(["ldd", path]).stdout.splitlines():
        if "=>" in line:
            name, target = (s.strip() for s in line.split("=>", 1))
            deps[name] = target.split(" (")[0].strip()
        elif line.strip().startswith("/"):
            target = line.strip().split(" (")[0]
            deps[os.path.basename(target)] = target
    return deps


def venv_paths(venv: Path) -> tuple[Path, Path]:
    """The venv's site-packages and the standard library of the Python it was made from."""
    out = run([venv / "bin/python", "-c", "import os, sysconfig; "
               "print(sysconfig.get_path('platlib')); print(os.path.dirname(os.__file__))"])
    platlib, stdlib = out.stdout.split()
    return Path(platlib), Path(stdlib).resolve()


def check_ldd(package_dirs: list[Path], allowed: set[str]) -> int:
    elf_files = [f for d in package_dirs for f in sorted(d.iterdir()) if ".so" in f.name]
    for elf in elf_files:
        for name, target in ldd(elf).items():
            if target == "not found":
                fail(f"{elf.name} needs {name}, which is not found")
            inside = any(Path(target).resolve().is_relative_to(d) for d in package_dirs)
            if not inside and name not in allowed:
                fail(f"{elf.name} needs {name} from {target}, outside the wheel")
    return len(elf_files)


def start_server(binary: Path, work: Path, pki: Path) -> tuple[subprocess.Popen, str]:
    """A real `proglog` node with mutual TLS on free ports; returns it and its RPC address."""
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", work / "data", "--node-name", "wheel",
         "--rpc-port", "0", "--bind-addr", "127.0.0.1:0", "--bootstrap", "--log-format", "json",
         "--server-tls-cert-file", pki / "server.pem", "--server-tls-key-file",
         pki / "server-key.pem", "--server-tls-ca-file", pki / "ca.pem"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict = {}
    lines: list[str] = []

    def read() -> None:  # the node logs to stderr until it exits
        for line in proc.stderr:
            lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("msg") == "serving" and "addr" not in found:
                found["addr"] = event["rpc_addr"]
                ready.set()
        ready.set()

    ready = threading.Event()
    threading.Thread(target=read, daemon=True).start()
    ready.wait(60)
    if "addr" not in found:
        proc.kill()
        fail("the proglog server did not log 'serving':\n" + "".join(lines))
    return proc, found["addr"]


def check_mapped(probe: dict, package_dirs: list[Path], allowed_paths: set[Path],
                 python_stdlib: Path, interpreter_paths: set[Path]) -> None:
    for mapped in probe["new"]:
        path = Path(mapped).resolve()
        if any(path.is_relative_to(d) for d in (*package_dirs, python_stdlib)):
            continue  # the wheel's, or the standard library's own modules
        if path in allowed_paths or path in interpreter_paths:
            continue
        fail(f"importing proglog mapped {mapped}, neither the wheel's nor a manylinux base library")


def interpreter_needs(venv: Path, extension_modules: list[str],
                      python_stdlib: Path) -> dict[str, Path]:
    """soname -> system path of what the interpreter and the stdlib extension modules it
    imported link (libffi for ctypes)."""
    needs = {}
    own = [m for m in extension_modules if Path(m).resolve().is_relative_to(python_stdlib)]
    for elf in [(venv / "bin/python").resolve(), *own]:
        for name, target in ldd(Path(elf)).items():
            if target.startswith("/") and Path(target).resolve().is_relative_to(MULTIARCH):
                needs[name] = Path(target).resolve()
    return needs


def system_library(soname: str) -> Path | None:
    path = MULTIARCH / soname
    return path.resolve() if path.exists() else None


def stage_base(stage: Path, sonames: dict[str, Path]) -> None:
    stage.mkdir()
    for soname, source in sorted(sonames.items()):
        shutil.copy2(source, stage / soname)


def run_in_clean_root(stage: Path, args: list, cwd: Path) -> subprocess.CompletedProcess:
    """Runs args with `stage` mounted over the multiarch library directory (a private mount
    namespace: nothing outside this command sees it). Only sh (libc alone) runs between the
    mount and the exec."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    script = 'mount --bind "$0" "$1" && shift && exec "$@"'
    return run([*unshare, "sh", "-c", script, stage, MULTIARCH, *args], cwd=cwd, env=env)


def example_imports(code: str) -> list[str]:
    names = []
    for node in ast.parse(code).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name != "proglog"]
    return names


def readme_example(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    region = text[text.index("<!-- sdk:begin"):text.index("<!-- sdk:end -->")]
    examples = re.findall(r"^```python\n(.*?)^```$", region, re.M | re.S)
    if len(examples) != 1:
        fail(f"expected one Python example in the README's SDK section, found {len(examples)}")
    return examples[0]


def grafted_stems(libs_dir: Path) -> set[str]:
    """'libgrpc' for libgrpc-3a193dd3.so.29.0.0, 'libldap-2.5' for libldap-2-062bb940.5.so.0."""
    return {re.sub(r"-[0-9a-f]{8}(?=\.)", "", f.name, count=1).split(".so")[0]
            for f in libs_dir.iterdir()}


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("wheel", "venv", "proglog-bin", "readme", "policy", "work"):
        parser.add_argument("--" + flag, type=Path, required=True)
    opts = parser.parse_args()
    work = opts.work.resolve()
    platlib, python_stdlib = venv_paths(opts.venv)
    package_dirs = [platlib / "proglog", platlib / "proglog.libs"]
    if not package_dirs[1].is_dir() or not any(package_dirs[1].iterdir()):
        fail(f"{package_dirs[1]} is missing or empty: the wheel was not repaired")

    allowed = policy_libraries(opts.policy, opts.wheel) | {LOADER, "linux-vdso.so.1"}
    count = check_ldd(package_dirs, allowed)
    print(f"ldd: every dependency of the {count} ELF files resolves inside the wheel "
          f"or is a manylinux base library")

    pki = work / "pki"
    binary = opts.proglog_bin.resolve()
    run([binary, "cert", "ca", "--dir", pki])
    run([binary, "cert", "issue", "--dir", pki, "--role", "server", "--cn", "wheel"])
    run([binary, "cert", "issue", "--dir", pki, "--role", "client", "--cn", "root"])
    tls = [pki / "ca.pem", pki / "root-client.pem", pki / "root-client-key.pem"]
    example = readme_example(opts.readme)
    server, addr = start_server(binary, work, pki)
    try:
        probe = json.loads(run([opts.venv / "bin/python", Path(__file__).with_name(
            "probe_loaded.py"), addr, *tls, *example_imports(example)]).stdout)
        allowed_paths = {p for p in map(system_library, allowed) if p}
        needs = interpreter_needs(opts.venv, probe["extension_modules"], python_stdlib)
        check_mapped(probe, package_dirs, allowed_paths, python_stdlib, set(needs.values()))
        from_wheel = [m for m in probe["new"]
                      if any(Path(m).resolve().is_relative_to(d) for d in package_dirs)]
        others = sorted(os.path.basename(m) for m in probe["new"] if m not in from_wheel)
        print(f"maps: import + a TLS call mapped {len(probe['new'])} new shared objects: "
              f"{len(from_wheel)} from the wheel, the others the interpreter's or the "
              f"manylinux base ({', '.join(others)})")

        base = {name: p for name in allowed if (p := system_library(name))}
        base[LOADER] = system_library(LOADER)
        base.update(needs)
        stage = work / "base"
        stage_base(stage, base)
        kept = sorted(grafted_stems(package_dirs[1]) &
                      {n.split(".so")[0] for n in base})
        hidden = sorted(grafted_stems(package_dirs[1]) - set(kept))
        checker = ("import os, sys\n"
                   "stems = set(sys.argv[1:])\n"
                   f"dirs = {LOADER_DIRS!r}\n"
                   "for conf in os.listdir('/etc/ld.so.conf.d'):\n"
                   "    for line in open('/etc/ld.so.conf.d/' + conf):\n"
                   "        if line.startswith('/'): dirs.append(line.strip())\n"
                   "left = [d + '/' + f for d in dirs if os.path.isdir(d) for f in os.listdir(d)\n"
                   "        if f.split('.so')[0] in stems]\n"
                   "print('\\n'.join(left))\n")
        left = run_in_clean_root(stage, [opts.venv / "bin/python", "-c", checker, *hidden],
                                 work).stdout.split()
        if left:
            fail("the clean root still holds libraries the wheel should bring: " + " ".join(left))
        print(f"clean root: {len(base)} libraries in {MULTIARCH} ({', '.join(sorted(base))}); "
              f"{len(hidden)} of the wheel's {len(grafted_stems(package_dirs[1]))} grafted "
              f"libraries absent from every loader directory (kept for the interpreter: "
              f"{', '.join(kept) or 'none'})")

        script = work / "readme_example.py"
        script.write_text(example, encoding="utf-8")
        out = run_in_clean_root(stage, [opts.venv / "bin/python", script], work).stdout
        for expected in ("b'c'", "b'later'", "b'once'"):
            if expected not in out:
                fail(f"the README example's output lacks {expected}:\n{out}")
        print("clean root: the README's Python example ran (embedded node and client)")

        out = run_in_clean_root(stage, [opts.venv / "bin/python", Path(__file__).with_name(
            "against_server.py"), addr, *tls], work).stdout
        if not out.startswith("ok"):
            fail(f"against_server.py printed {out!r}")
        values = run([binary, "consume", "--addr", addr, "--tls-ca-file", tls[0],
                      "--tls-cert-file", tls[1], "--tls-key-file", tls[2]]).stdout.split()
        if values[-4:] != ["a", "b", "c", "later"]:
            fail(f"the server's log ends with {values[-4:]}, not what the wheel wrote")
        print(f"clean root: the README's client calls ran against the proglog server at {addr} "
              "over mutual TLS; `proglog consume` reads back what they wrote")
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
