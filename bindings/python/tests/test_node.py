"""The embedded node: local round trips, persistence, bad input."""

from pathlib import Path

import pytest

import proglog


def test_append_then_read_round_trips(node: proglog.Node) -> None:
    first = node.append(b"alpha")
    second = node.append(bytearray(b"beta"))
    assert second == first + 1
    assert node.read(first) == proglog.Record(b"alpha", first)
    assert node.read(second).value == b"beta"


def test_address_is_a_loopback_host_and_port(node: proglog.Node) -> None:
    host, port = node.address.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0


def test_records_survive_reopening(tmp_path: Path) -> None:
    with proglog.Node(str(tmp_path / "d")) as node:
        values = [f"v{i}".encode() for i in range(20)]
        offsets = [node.append(v) for v in values]
    with proglog.Node(tmp_path / "d") as node:  # a path object works too
        assert [node.read(o).value for o in offsets] == values
        assert node.append(b"next") == offsets[-1] + 1


def test_read_past_the_end_raises_offset_out_of_range(node: proglog.Node) -> None:
    node.append(b"only")
    with pytest.raises(proglog.OffsetOutOfRange) as info:
        node.read(1)
    assert info.value.code == -2
    assert not info.value.retryable
    assert isinstance(info.value, IndexError)


def test_str_value_is_a_type_error_naming_the_argument(node: proglog.Node) -> None:
    with pytest.raises(TypeError, match="value must be bytes, not str"):
        node.append("text")  # type: ignore[arg-type]


def test_oversized_value_is_invalid_and_loses_nothing(node: proglog.Node) -> None:
    kept = node.append(b"kept")
    with pytest.raises(proglog.InvalidArgument):
        node.append(b"x" * 5000)
    assert node.read(kept).value == b"kept"
    assert node.append(b"after") == kept + 1


def test_closed_node_raises_closed(tmp_path: Path) -> None:
    node = proglog.Node(str(tmp_path / "c"))
    with node:
        node.append(b"x")
    with pytest.raises(proglog.Closed):
        node.append(b"y")
    node.close()  # idempotent


def test_second_node_on_a_data_dir_in_use_raises_busy(tmp_path: Path) -> None:
    with proglog.Node(tmp_path / "shared") as node:
        with pytest.raises(proglog.Busy, match="already in use") as info:
            proglog.Node(tmp_path / "shared")
        assert info.value.code == -15
        assert not info.value.retryable
        node.append(b"still mine")
    with proglog.Node(tmp_path / "shared") as node:  # free again once closed
        assert node.read(0).value == b"still mine"


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(proglog.Error) as info:
        proglog.Node(str(blocker / "sub"))
    assert str(info.value)


def test_empty_values_are_records(node: proglog.Node) -> None:
    local = node.append(b"")
    with proglog.Client([node.address]) as client:
        remote = client.produce(b"")
        assert remote == local + 1
        assert client.consume(local) == proglog.Record(b"", local)
        assert client.produce_many([b"", b"x", b""]) == [remote + 1, remote + 2, remote + 3]
    assert node.read(remote).value == b""
