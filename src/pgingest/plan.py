"""What a run would do (``pgingest plan``): per source, its table and what becomes of each file.

``dry_run.plan_run`` makes a plan; ``report.render.render_plan`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgingest.config import Source
from pgingest.discover import FoldedPath

__all__ = ["FilePlan", "RunPlan", "SourcePlan"]


@dataclass(frozen=True)
class FilePlan:
    """One matched file and what a run would do with it."""

    path: str
    format: str
    compression: str | None
    size: int
    action: str  # load, skip (already loaded), changed, fail
    columns: list[str] = field(default_factory=list)
    problem: str | None = None
    note: str | None = None  # e.g. "partial (3 of 7 parts)": the parts left will load


@dataclass(frozen=True)
class SourcePlan:
    """A source: its table, the table's columns, and its files."""

    source: Source
    table: str
    table_exists: bool
    table_columns: list[tuple[str, str]]
    files: list[FilePlan]
    unmatched_patterns: list[str]
    problem: str | None = None
    folded: list[FoldedPath] = field(default_factory=list)  # paths of a file found twice


@dataclass(frozen=True)
class RunPlan:
    """Every source's plan, and the database consulted."""

    database: str
    sources: list[SourcePlan]
    base_dir: str = ""

    def display_path(self, path: str) -> str:
        """A file's path relative to the config's folder when it lies inside it."""
        if self.base_dir and path.startswith(self.base_dir.rstrip("/") + "/"):
            return path[len(self.base_dir.rstrip("/")) + 1 :]
        return path
