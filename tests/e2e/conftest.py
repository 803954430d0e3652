import pytest

import harness


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """Python client modules generated from the repository's proto at test time."""
    return harness.generate_stubs(tmp_path_factory.mktemp("generated"))


@pytest.fixture
def node(tmp_path):
    """A running node on a fresh data dir, stopped after the test."""
    with harness.Node(tmp_path / "data", "--node-name", "n1", "--bootstrap") as n:
        yield n


@pytest.fixture
def log_stub(pb, node):
    with harness.channel(node.rpc_addr) as ch:
        yield pb.log_grpc.LogStub(ch)
