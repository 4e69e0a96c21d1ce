"""Usable column names from a header with empty or repeated names (under ``create``).

As DuckDB's CSV reader does: an empty name becomes ``column_N`` (N its
1-based position) and a name seen before gets ``_2``, ``_3``, … — each new
name distinct from every other name of the header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["HeaderNames", "distinct_names"]


@dataclass(frozen=True)
class HeaderNames:
    """The names to use, and what was changed (a warning lists it)."""

    names: tuple[str, ...]
    changes: tuple[str, ...] = ()

    @property
    def warning(self) -> str:
        """One line naming each change."""
        return "header names changed: " + ", ".join(self.changes)


def distinct_names(header: Sequence[str]) -> HeaderNames:
    """Each empty name as ``column_N``, each repeated name with a ``_2``, ``_3`` suffix."""
    taken = {name for name in header if name != ""}
    seen: set[str] = set()
    names: list[str] = []
    changes: list[str] = []
    for position, name in enumerate(header, start=1):
        if name == "":
            new = _free(f"column_{position}", taken)
            changes.append(f"column {position} (no name) → {new!r}")
        elif name in seen:
            new = _free(name, taken)
            changes.append(f"column {position} ({name!r} again) → {new!r}")
        else:
            new = name
        seen.add(name)
        taken.add(new)
        names.append(new)
    return HeaderNames(tuple(names), tuple(changes))


def _free(base: str, taken: set[str]) -> str:
    """``base`` if no column has it, else the first of ``base_2``, ``base_3``, … that is free."""
    if base not in taken:
        return base
    suffix = 2
    while f"{base}_{suffix}" in taken:
        suffix += 1
    return f"{base}_{suffix}"
