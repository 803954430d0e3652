"""Record sizes through the client: a batch with one value over the server's
maximum appends nothing, and records near a large maximum read back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import proglog
from conftest import ServerProcess

MIB = 1 << 20


def test_produce_many_with_one_value_too_large_appends_nothing(
        client: proglog.Client) -> None:
    values = [b"p1", b"x" * (ServerProcess.MAX_RECORD_BYTES + 1), b"p3"]
    with pytest.raises(proglog.MessageTooLarge, match="message too large") as info:
        client.produce_many(values)
    assert info.value.written == []
    assert not info.value.retryable
    # Nothing of the batch is in the log: the next record gets offset 0.
    assert client.produce(b"after") == 0
    assert client.consume(0).value == b"after"


@pytest.fixture
def large_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "large", max_record_bytes=6 * MIB)
    yield process
    process.stop()


def test_a_5_mib_record_under_a_6_mib_limit_reads_back(large_server: ServerProcess) -> None:
    assert large_server.address is not None
    value = bytes(range(256)) * (5 * MIB // 256)
    with proglog.Client(large_server.address, timeout=60) as client:
        offset = client.produce(value)
        assert client.consume(offset).value == value
        assert client.produce_many([value, b"small"]) == [offset + 1, offset + 2]
        stream = client.stream(offset)
        assert next(iter(stream)).value == value
        stream.close()
        with pytest.raises(proglog.MessageTooLarge):
            client.produce(b"y" * (6 * MIB + 1))
