"""The public surface: everything pgingest exports is listed in __all__, and nothing else."""

from __future__ import annotations

import pgingest


def test_all_lists_every_public_name() -> None:
    public = {name for name in dir(pgingest) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(pgingest, name)).__name__ == "module"}
    assert set(pgingest.__all__) == (public - modules - {"annotations"}) | {"__version__"}


def test_every_listed_name_exists() -> None:
    for name in pgingest.__all__:
        assert hasattr(pgingest, name), name
