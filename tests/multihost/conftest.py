"""The multihost topology (see topology.py), built once for the module's tests.

Every test here is marked ``multihost`` and skips, with the reason, where
network namespaces cannot be made (not Linux, not root, no iproute2, no
PostgreSQL binaries).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.multihost.topology import WORKERS, Topology, why_not_possible


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """Five hosts with their services up; torn down even when a test fails."""
    reason = why_not_possible()
    if reason:
        pytest.skip(f"multihost topology unavailable: {reason}")
    built = Topology(tmp_path_factory.mktemp("hosts"))
    try:
        built.build()
        built.start_all()
        yield built
    finally:
        built.teardown()


@pytest.fixture
def hosts(topology: Topology) -> Topology:
    """The topology with both workers on line (a test before may have cut one off)."""
    for name in WORKERS:
        host = topology.hosts[name]
        if not host.processes or host.processes[0].poll() is not None:
            host.kill_processes()
            host.set_link(up=True)
            topology.start_worker(name)
    topology.hosts["db"].set_link(up=True)
    return topology


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder every host sees (the hosts share this machine's file system)."""
    tmp_path.chmod(0o755)
    return tmp_path
