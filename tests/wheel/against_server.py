"""The README's client calls against a real `proglog` server, over mutual TLS.

Run by the wheel's virtualenv interpreter inside the clean root, so gRPC and OpenSSL can only be
the wheel's: python against_server.py ADDR CA CERT KEY. Prints `ok` and the offsets it wrote.
"""

import sys
import threading

import proglog


def main() -> None:
    addr, ca, cert, key = sys.argv[1:]
    with proglog.Client([addr], ca_file=ca, cert_file=cert, key_file=key,
                        timeout=10.0) as client:
        offsets = client.produce_many([b"a", b"b", b"c"])
        assert client.consume(offsets[-1]).value == b"c"
        try:
            client.consume(offsets[-1] + 100)
            raise SystemExit("a consume past the end returned a record")
        except proglog.OffsetOutOfRange:
            pass

        # A stream follows the tail: it waits for a record produced after it started.
        later = threading.Thread(target=client.produce, args=(b"later",))
        with client.stream(offsets[-1]) as stream:
            later.start()
            values = []
            for record in stream:
                values.append(record.value)
                if record.value == b"later":
                    break
        later.join()
        assert values == [b"c", b"later"], values

        servers = client.servers()
        assert [(s.rpc_addr, s.is_leader) for s in servers] == [(addr, True)], servers
    print("ok", offsets)


if __name__ == "__main__":
    main()
