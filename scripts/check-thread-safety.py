#!/usr/bin/env python3
"""Checks every lock contract in our C++ (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...)
with clang's thread-safety analysis, whatever compiler the build itself uses.

Reads the build's compile_commands.json, and for each translation unit of core/, capi/ and
server/ that can hold a lock contract runs clang++ with the build's own flags, -fsyntax-only
and only the thread-safety warnings, as errors. GCC, the default compiler here, has no such
analysis. A unit can hold one when it, or a header of ours it includes (directly or through
others), uses an annotation or an absl::Mutex; the analysis has nothing to say of the rest,
and skipping them halves the time (the gRPC and protobuf headers dominate it).

Usage: scripts/check-thread-safety.py BUILD_DIR [--jobs N]
Exit status: 0 when every file is clean, 1 when any is not (the warnings are printed),
2 when it cannot run (no compile_commands.json, no clang++).
"""

import argparse
import concurrent.futures
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

CHECKED_FOLDERS = ("core", "capi", "server")
# Only the analysis: the build's own compiler already enforces every other warning.
ANALYSIS_FLAGS = ["-fsyntax-only", "-Wno-everything", "-Wthread-safety",
                  "-Werror=thread-safety"]


LOCKING = re.compile(r"ABSL_[A-Z_]*(GUARDED_BY|LOCKS?_|LOCKABLE|LOCK_RETURNED|ACQUIRE|RELEASE)"
                     r"|absl::(Mutex|MutexLock|ReaderMutexLock|WriterMutexLock|CondVar)\b")
OUR_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


@functools.lru_cache(maxsize=None)
def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""  # a generated header, or one of a library's


def can_hold_a_lock_contract(path, source_root):
    """Whether `path` or a header of ours it includes, at any depth, is about locking."""
    seen, pending = set(), [path]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        text = read(current)
        if LOCKING.search(text):
            return True
        pending += [os.path.join(source_root, name) for name in OUR_INCLUDE.findall(text)]
    return False


def clang_command(entry, clang):
    """The build's command for one file, with clang++ checking instead of compiling."""
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    kept, skip_next = [], False
    for arg in args[1:]:
        if skip_next:
            skip_next = False
        elif arg == "-o":
            skip_next = True
        elif arg not in ("-c", entry["file"]) and not arg.startswith("-W"):
            kept.append(arg)
    return [clang] + kept + ANALYSIS_FLAGS + [entry["file"]]


def checked(entry, source_root):
    relative = os.path.relpath(entry["file"], source_root)
    return relative.split(os.sep)[0] in CHECKED_FOLDERS and relative.endswith(".cc")


def check(entry, clang):
    result = subprocess.run(clang_command(entry, clang), cwd=entry["directory"],
                            capture_output=True, text=True)
    return entry["file"], result.returncode, result.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir")
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    database = os.path.join(options.build_dir, "compile_commands.json")
    clang = shutil.which("clang++")
    if clang is None or not os.path.exists(database):
        print("check-thread-safety: needs clang++ and %s (scripts/install-deps.sh, "
              "cmake -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)" % database, file=sys.stderr)
        return 2
    with open(database, encoding="utf-8") as f:
        ours = [e for e in json.load(f) if checked(e, source_root)]
    entries = [e for e in ours if can_hold_a_lock_contract(e["file"], source_root)]
    if not entries:
        print("check-thread-safety: no file of %s in %s" % (", ".join(CHECKED_FOLDERS), database),
              file=sys.stderr)
        return 2
    failures = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=options.jobs) as pool:
        for path, code, output in pool.map(lambda e: check(e, clang), entries):
            if code != 0:
                failures += 1
                print(output, end="")
    print("check-thread-safety: %d of %d files clean (%d hold no lock and were skipped)"
          % (len(entries) - failures, len(entries), len(ours) - len(entries)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
