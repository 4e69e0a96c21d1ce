"""The public surface: ``pgingest.__all__``, and nothing else.

Every submodule is internal (the package docstring says so), so a user reaches
each public object as ``pgingest.<name>``; these tests keep that true.
"""

from __future__ import annotations

import inspect
import pickle
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import pgingest

PROJECT = Path(__file__).resolve().parent.parent
# Dunder names that are public on purpose (like httpx's __version__).
PUBLIC_DUNDERS = {"__version__"}
EXPORTED = sorted(set(pgingest.__all__) - PUBLIC_DUNDERS)


def test_all_is_sorted_without_repeats() -> None:
    assert pgingest.__all__ == sorted(set(pgingest.__all__))


def test_every_exported_name_imports_from_pgingest() -> None:
    names = ", ".join(EXPORTED)
    code = f"from pgingest import {names}; from pgingest import *; print(__version__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == pgingest.__version__


def test_nothing_else_public_is_exported() -> None:
    # dir() lists what the package can hand out, imported yet or not.
    reachable = {n: getattr(pgingest, n) for n in dir(pgingest)}
    public = {n for n in reachable if not n.startswith("_") or n in PUBLIC_DUNDERS}
    submodules = {n for n in public if isinstance(reachable[n], types.ModuleType)}
    assert sorted(public - submodules) == sorted(pgingest.__all__)
    # Submodules appear as attributes once imported; they are internal, never re-exports.
    for name in submodules:
        assert reachable[name].__name__ == f"pgingest.{name}", name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Runner'"):
        _ = pgingest.Runner  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", EXPORTED)
def test_each_export_has_one_stable_home(name: str) -> None:
    """The object is the one its defining module holds, so it pickles by reference."""
    value = getattr(pgingest, name)
    home = sys.modules[value.__module__]
    assert value.__module__.startswith("pgingest."), value.__module__
    assert getattr(home, value.__qualname__) is value
    assert pickle.loads(pickle.dumps(value)) is value
    assert inspect.getdoc(value), f"pgingest.{name} has no docstring"


def test_docs_use_only_the_public_home() -> None:
    """README and the examples reach the library as ``pgingest.<name>``, never a submodule."""
    internal = re.compile(
        r"\bfrom pgingest\.\w+ import\b|\bimport pgingest\.\w+|\bpgingest\.[a-z_]+\.\w"
    )
    documents = [PROJECT / "README.md", *sorted((PROJECT / "examples").rglob("*.py"))]
    for document in documents:
        text = document.read_text(encoding="utf-8")
        for block in (
            re.findall(r"```python\n(.*?)```", text, re.S) if document.suffix == ".md" else [text]
        ):
            assert not internal.search(block), f"{document.name}: {internal.search(block)}"
        used = set(re.findall(r"\bpgingest\.([A-Za-z_]\w*)\(", text))
        assert used <= set(pgingest.__all__), f"{document.name} uses {used - set(pgingest.__all__)}"


def test_import_is_light() -> None:
    code = "import sys, pgingest; print('pyarrow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
