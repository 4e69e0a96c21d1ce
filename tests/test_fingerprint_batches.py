"""Fingerprints of many files: batched and threaded (issue 12), each file's own, in order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pgingest.errors import SourceError
from pgingest.store import manifest
from pgingest.store.manifest import fingerprint_files


def _expected(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("tiny", [True, False])
def test_every_file_gets_its_own_fingerprint(tmp_path: Path, tiny: bool) -> None:
    sizes = [10, 3000] if tiny else [10, 70_000, 5 << 20, 300]
    contents: dict[str, bytes] = {}
    for index in range(300):
        path = tmp_path / f"f{index:03d}.csv"
        data = (b"%d," % index) * (sizes[index % len(sizes)] // 4 + 1)
        path.write_bytes(data)
        contents[str(path)] = data
    missing = str(tmp_path / "gone.csv")
    paths = [*contents, missing]
    known = {path: len(data) for path, data in contents.items()}
    assert manifest._mostly_tiny(list(contents), known) is tiny
    if not tiny:  # several batches, a large file alone in its own
        batches = manifest._hash_batches(paths, known)
        assert len(batches) > 4
        assert [p for batch in batches for p in batch] == paths
        assert all(len(batch) == 1 for batch in batches if known.get(batch[0], 0) == 5 << 20)
    found = fingerprint_files(paths, known)
    assert list(found) == paths
    for path, data in contents.items():
        assert found[path] == _expected(data), path
    assert isinstance(found[missing], SourceError)


def test_the_size_found_is_the_size_hashed(tmp_path: Path) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    found = fingerprint_files([str(path)], {str(path): 8})  # it grew after discovery
    assert found[str(path)] == _expected(b"a,b\n1,2\n")
