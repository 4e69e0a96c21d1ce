"""The public surface: everything pgingest exports is listed in __all__, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pgingest

# Names the package module uses itself, not exports.
_HELPERS = {"annotations", "importlib", "TYPE_CHECKING", "Any"}


def test_all_lists_every_public_name() -> None:
    public = {name for name in dir(pgingest) if not name.startswith("_")}
    modules = {n for n in public if type(getattr(pgingest, n)).__name__ == "module"}
    assert set(pgingest.__all__) == (public - modules - _HELPERS) | {"__version__"}


def test_every_listed_name_exists() -> None:
    for name in pgingest.__all__:
        assert hasattr(pgingest, name), name


def test_import_is_light() -> None:
    code = "import sys, pgingest; print('pyarrow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
