"""Adds the licence notices of the libraries auditwheel grafted into a wheel: for each
library in proglog.libs/, the copyright file of the Debian package it came from goes to
<dist-info>/licenses/third_party/<package>.copyright, with an index (libraries.txt) saying
which library came from which package, and the project's own LICENSE beside them. The
wheel is rewritten in place with `wheel pack`, so RECORD stays right.
Usage: wheel-licenses.py WHEEL LICENSE   (run with a Python that has the `wheel` package)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MULTIARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu")


def original_name(grafted: str) -> str:
    """'libgrpc.so.29' for auditwheel's 'libgrpc-3a193dd3.so.29'."""
    return re.sub(r"-[0-9a-f]{8}(?=\.)", "", grafted, count=1)


def debian_package(library: str) -> str:
    for folder in MULTIARCH_DIRS:
        found = subprocess.run(["dpkg-query", "-S", f"{folder}/{library}"],
                               capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].strip()
    raise SystemExit(f"wheel-licenses: no Debian package owns {library}")


def main() -> None:
    wheel, license_file = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", scratch, str(wheel)],
                       check=True, stdout=subprocess.DEVNULL)
        (root,) = Path(scratch).iterdir()
        (dist_info,) = root.glob("*.dist-info")
        notices = dist_info / "licenses" / "third_party"
        notices.mkdir(parents=True, exist_ok=True)
        shutil.copy(license_file, dist_info / "licenses" / "LICENSE")
        index = []
        for grafted in sorted((root / "proglog.libs").iterdir()):
            package = debian_package(original_name(grafted.name))
            shutil.copy(f"/usr/share/doc/{package}/copyright", notices / f"{package}.copyright")
            index.append(f"{grafted.name}\t{package}")
        (notices / "libraries.txt").write_text(
            "# library in proglog.libs/\tDebian package (its copyright file is beside this)\n"
            + "\n".join(index) + "\n", encoding="utf-8")
        wheel.unlink()
        subprocess.run([sys.executable, "-m", "wheel", "pack", "-d", str(wheel.parent),
                        str(root)], check=True, stdout=subprocess.DEVNULL)
    if not wheel.exists():
        raise SystemExit(f"wheel-licenses: wheel pack did not write {wheel.name}")
    print(f"{wheel.name}: licence notices of {len(index)} libraries "
          f"({len({line.split(chr(9))[1] for line in index})} Debian packages)")


if __name__ == "__main__":
    main()
