"""Reports which shared objects `import proglog` and a call through it map into the process.

Run by the wheel's virtualenv interpreter: python probe_loaded.py ADDR CA CERT KEY [MODULE...]
MODULEs (the README example's other imports) are imported first, so their files count as the
interpreter's. Prints one JSON object: the files newly mapped (from /proc/self/maps) and every
extension module file the process imported.
"""

import importlib
import json
import sys


def mapped_shared_objects() -> set[str]:
    paths = set()
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/") and ".so" in fields[5]:
                paths.add(fields[5].strip())
    return paths


def main() -> None:
    addr, ca, cert, key, *modules = sys.argv[1:]
    for name in modules:
        importlib.import_module(name)
    before = mapped_shared_objects()
    import proglog  # noqa: E402 (the import is what is measured)

    # A TLS call, so whatever gRPC or OpenSSL load lazily is mapped too.
    with proglog.Client([addr], ca_file=ca, cert_file=cert, key_file=key, timeout=10.0) as c:
        c.consume(c.produce(b"probe"))
    files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
    extensions = sorted(f for f in files if f.endswith(".so"))
    print(json.dumps({"new": sorted(mapped_shared_objects() - before),
                      "extension_modules": extensions}))


if __name__ == "__main__":
    main()
