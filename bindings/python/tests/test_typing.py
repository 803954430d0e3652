"""The package's types reach user code: mypy accepts good code, rejects bad."""

import subprocess
import sys
from pathlib import Path

GOOD = """
import proglog

def first_value(client: proglog.Client) -> bytes:
    offsets: list[int] = client.produce_many([b"a"])
    record: proglog.Record = client.consume(offsets[0])
    for streamed in client.stream(0):
        return streamed.value
    return record.value

def cluster_client() -> proglog.Client:
    client = proglog.Client(["10.0.0.1:8400"], timeout=None, read_from="leader",
                            refresh_interval=30.0, max_attempts=3, backoff=(0.05, None))
    try:
        client.produce(b"x", timeout=1.5)
    except proglog.Error as err:
        unknown: bool = err.outcome_unknown
    leaders: list[str] = [s.rpc_addr for s in client.servers(timeout=proglog.DEFAULT)
                          if s.is_leader]
    for record in client.subscribe(0):
        break
    return client

async def with_asyncio() -> list[bytes]:
    import proglog.aio
    async with proglog.aio.Client("10.0.0.1:8400", timeout=None, max_concurrency=4) as client:
        offset: int = await client.produce(b"x", timeout=1.5)
        offsets: list[int] = await client.produce_many([b"a", bytearray(b"b")])
        record: proglog.Record = await client.consume(offset)
        servers: list[proglog.Server] = await client.servers(timeout=proglog.DEFAULT)
        seen = [record.value]
        async with client.subscribe(offsets[0]) as subscription:
            async for streamed in subscription:
                seen.append(streamed.value)
                break
            maybe: proglog.Record | None = await subscription.next(timeout=0.5)
        return seen
"""

BAD = """
import proglog

def wrong(client: proglog.Client) -> str:
    return client.consume(0).value
"""

BAD_ASYNC = """
import proglog.aio

async def wrong(client: proglog.aio.Client) -> str:
    return (await client.consume(0)).value
"""


def run_mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user.py"
    path.write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           str(path)], capture_output=True, text=True, timeout=300)


def test_mypy_accepts_correct_use(tmp_path: Path) -> None:
    done = run_mypy(tmp_path, GOOD)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_rejects_a_type_error(tmp_path: Path) -> None:
    done = run_mypy(tmp_path, BAD)
    assert done.returncode == 1
    assert "Incompatible return value type" in done.stdout


def test_mypy_rejects_a_type_error_in_asyncio_code(tmp_path: Path) -> None:
    done = run_mypy(tmp_path, BAD_ASYNC)
    assert done.returncode == 1
    assert "Incompatible return value type" in done.stdout
