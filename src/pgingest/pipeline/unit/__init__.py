"""One file's load, from opening it to its manifest row; several files when they land together.

model (the nouns) ← attempt (one try's context) ← batches (parse → convert →
rules → write, fast or careful) ← staged, reload ← transaction (one attempt,
one transaction) ← load (the fast → careful → retry loop; errors settled into
results) ← replace (files in one transaction), group (small files several to a
transaction) ← jobs (what an executor runs).
"""

from __future__ import annotations

from pgingest.pipeline.unit.group import AppendGroup, group_small_files
from pgingest.pipeline.unit.jobs import (
    Job,
    OrderedGroup,
    UnitRunner,
    job_files,
    job_size,
    run_job,
)
from pgingest.pipeline.unit.load import load_unit
from pgingest.pipeline.unit.model import Unit, UnitContext
from pgingest.pipeline.unit.replace import ReplaceGroup, as_replace_units
from pgingest.pipeline.unit.result import UnitFailure, UnitResult, lacking_warning

__all__ = [
    "AppendGroup",
    "Job",
    "OrderedGroup",
    "ReplaceGroup",
    "Unit",
    "UnitContext",
    "UnitFailure",
    "UnitResult",
    "UnitRunner",
    "as_replace_units",
    "group_small_files",
    "job_files",
    "job_size",
    "lacking_warning",
    "load_unit",
    "run_job",
]
