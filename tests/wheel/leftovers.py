"""Lists the libraries the dynamic loader could still find for the given name stems.

Run inside the clean root: python leftovers.py libgrpc libssl ... prints every file in a
directory the loader searches (the default ones and those of /etc/ld.so.conf.d) whose name is
one of the stems followed by `.so`, one per line; nothing when the root is clean.
"""

import os
import sys

DEFAULT_DIRS = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu", "/usr/local/lib"]


def loader_dirs() -> list[str]:
    dirs = list(DEFAULT_DIRS)
    conf_dir = "/etc/ld.so.conf.d"
    for conf in sorted(os.listdir(conf_dir)) if os.path.isdir(conf_dir) else []:
        with open(os.path.join(conf_dir, conf), encoding="utf-8") as lines:
            dirs += [line.strip() for line in lines if line.startswith("/")]
    return [d for d in dirs if os.path.isdir(d)]


def main() -> None:
    stems = set(sys.argv[1:])
    for directory in loader_dirs():
        for name in sorted(os.listdir(directory)):
            if ".so" in name and name.split(".so")[0] in stems:
                print(os.path.join(directory, name))


if __name__ == "__main__":
    main()
