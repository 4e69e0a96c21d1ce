"""Small files of an append source, several to a transaction and to a COPY statement.

A 400-row file costs about as much in fixed work as in rows: its own
transaction (BEGIN, COMMIT and its WAL flush), its own manifest round trips,
COPY statement and pooled connection (bench/README.md, "What grouping several
small files ... must amortise"). Here consecutive small files of one job share
all of that: one connection, one transaction, one COPY statement for as long as
their columns agree, one lock-and-check and one INSERT for their manifest
rows; their parsing and conversion are shared too (together.py). Each file
still has its own row in ``pgingest.files``, written in the transaction that
holds its rows, and its own result, rejects and events.

Only the fast path runs here. Anything that goes wrong — a value that needs the
careful path, a refused row, an unreadable file, a transient error, another
run loading one of the files — rolls the group's transaction back, and each of
its files runs again on its own, on the ordinary path (load.py), so one bad
file costs its neighbours a retry and never their rows. The files of the job
not yet taken go on in a new group.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from pgingest.errors import LoadError
from pgingest.load.connect import translate_db_error
from pgingest.parse import open_reader
from pgingest.parse.csv import CsvReader
from pgingest.pipeline.unit.attempt import Attempt
from pgingest.pipeline.unit.batches import copy_rows, parsed_batches
from pgingest.pipeline.unit.load import Landed, landed_result, load_unit
from pgingest.pipeline.unit.model import LoadedElsewhereError, Tally, Unit, UnitContext
from pgingest.pipeline.unit.result import UnitResult, detected_encoding, locate_rejects
from pgingest.pipeline.unit.together import (
    ConvertedTogether,
    Plans,
    ReadTogether,
    SharedCopies,
    shared_copies,
)
from pgingest.pipeline.unit.transaction import check_counts
from pgingest.store.manifest import (
    LoadedRecord,
    is_recorded,
    overlaps_loaded_many,
    record_loaded_many,
)
from pgingest.store.rejects import write_rejects
from pgingest.validate import RuleChecker

__all__ = [
    "GROUP_BYTES",
    "GROUP_FILES",
    "GROUP_ROWS",
    "GROUP_SECONDS",
    "SMALL_FILE_BYTES",
    "AppendGroup",
    "can_group",
    "group_small_files",
    "load_group",
]

logger = logging.getLogger(__name__)

# A file up to this size may share a transaction: past it, the fixed cost per
# file (~30 ms) is under a tenth of its own load time, and grouping gains little.
SMALL_FILE_BYTES = 1 << 20

# Bounds of one group's transaction. Files: past a few hundred, the per-file
# costs left (opening and parsing each file) dominate and nothing more is
# amortised. Bytes and rows: what one rollback throws away (and redoes file by
# file) when a file of the group fails, and how long other sessions see none of
# the rows. Seconds: a slow file (a remote read) does not hold the others' commit.
GROUP_FILES = 200
GROUP_BYTES = 16 << 20
GROUP_ROWS = 200_000
GROUP_SECONDS = 5.0

# Groups per source at least, when it has enough small files: a source of a few
# hundred files still spreads over the run's workers instead of one group each.
PARALLEL_GROUPS = 8
MIN_GROUP_FILES = 4


@dataclass(frozen=True)
class AppendGroup:
    """Small files of one append source, loaded several to a transaction (a picklable job)."""

    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Bytes of all its files (for scheduling the largest work first)."""
        return sum(u.file.size for u in self.units)


def can_group(unit: Unit) -> bool:
    """Whether the unit may share a transaction: a whole small file, plainly appended.

    Upsert and ``sql`` rules go through a staging table per file, replace and
    ordered groups have their own transaction, a changed file deletes its
    earlier rows first, and a chunk is part of a large file: those stay alone.
    """
    source, decision = unit.source, unit.decision
    return (
        source.mode == "append"
        and not any(rule.sql for rule in source.rules)
        and decision.action == "load"
        and not decision.loaded_parts
        and unit.file.chunk is None
        and unit.file.size <= SMALL_FILE_BYTES
    )


def group_small_files(units: Sequence[Unit]) -> list[Unit | AppendGroup]:
    """The units as jobs: small append files of a source in groups, the others alone.

    A source's small files (in the order given) are cut into contiguous groups
    of about equal size, bounded by ``GROUP_FILES`` and ``GROUP_BYTES``.
    """
    jobs: list[Unit | AppendGroup] = []
    by_source: dict[tuple[str, str], list[Unit]] = {}
    for unit in units:
        if can_group(unit):
            key = (unit.source.name, str(unit.table.name))
            by_source.setdefault(key, []).append(unit)
        else:
            jobs.append(unit)
    for members in by_source.values():
        jobs.extend(_cut(members))
    return jobs


def _cut(units: list[Unit]) -> list[Unit | AppendGroup]:
    total = sum(u.file.size for u in units)
    count = max(
        math.ceil(len(units) / GROUP_FILES),
        math.ceil(total / GROUP_BYTES),
        min(PARALLEL_GROUPS, len(units) // MIN_GROUP_FILES),
        1,
    )
    size = math.ceil(len(units) / count)
    jobs: list[Unit | AppendGroup] = []
    for start in range(0, len(units), size):
        members = tuple(units[start : start + size])
        jobs.append(members[0] if len(members) == 1 else AppendGroup(members))
    return jobs


def load_group(group: AppendGroup, ctx: UnitContext) -> list[UnitResult]:
    """Load the group's files, several to a transaction; one result per file."""
    waiting = deque(group.units)
    results: list[UnitResult] = []
    while waiting:
        results.extend(_land_next(waiting, ctx))
    return results


def _land_next(waiting: deque[Unit], ctx: UnitContext) -> list[UnitResult]:
    """The next files up to the bounds in one transaction; if it rolls back, each on its own."""
    if len(waiting) == 1:
        return [load_unit(waiting.popleft(), ctx)]
    started = time.perf_counter()
    taken: list[Unit] = []

    def attempt() -> list[Landed]:
        if taken:  # a transient failure rolled the last attempt back: the same files again
            for unit in taken:
                ctx.reporter.unit_restarted(unit.file, reason="after a retry")
            waiting.extendleft(reversed(taken))
            taken.clear()
        return _copy_together(waiting, taken, ctx)

    try:
        # A transient failure (a lost connection) retries the group as it was;
        # anything else, or retries spent, sends its files down their own path.
        landed = ctx.retrier.call(attempt, what=f"a group of files from {waiting[0].file.path}")
    except Exception as exc:  # whatever it was, each file's own path settles it
        logger.info(
            "a group of %d files rolled back (%s: %s); loading them one by one",
            len(taken),
            type(exc).__name__,
            exc,
        )
        ctx.metrics.add("groups.split")
        if not taken:  # it failed before taking a file (no connection): the next one settles it
            taken.append(waiting.popleft())
        for unit in taken:
            ctx.reporter.unit_restarted(unit.file, reason="on its own: its group rolled back")
        return [load_unit(unit, ctx) for unit in taken]
    ctx.metrics.add("groups.landed")
    finished = time.perf_counter()
    return [landed_result(one, ctx, started=started, finished=finished) for one in landed]


@dataclass
class _Bounds:
    """How much the open transaction holds, against the GROUP_* bounds."""

    started: float
    files: int = 0
    bytes: int = 0
    rows: int = 0

    def has_room(self, now: float) -> bool:
        return (
            self.files < GROUP_FILES
            and self.bytes < GROUP_BYTES
            and self.rows < GROUP_ROWS
            and now - self.started < GROUP_SECONDS
        )

    def add(self, unit: Unit, tally: Tally) -> None:
        self.files += 1
        self.bytes += unit.file.size
        self.rows += tally.parsed


class _CommitUnknownError(Exception):
    """The connection broke during COMMIT: the group may or may not have landed."""


def _copy_together(waiting: deque[Unit], taken: list[Unit], ctx: UnitContext) -> list[Landed]:
    """Take files from ``waiting`` into one transaction until a bound is reached; commit."""
    landed: list[Landed] = []
    committing = False
    table = str(waiting[0].table.name)
    try:
        with ctx.pool.connection() as conn:
            with conn.transaction():
                bounds = _Bounds(ctx.metrics.now())
                attempts: list[Attempt] = []
                with shared_copies(conn, ctx) as copies:
                    together = ConvertedTogether(conn, ctx, copies)
                    read, plans = ReadTogether(ctx, together), Plans(ctx)
                    while waiting and bounds.has_room(ctx.metrics.now()):
                        unit = waiting.popleft()
                        taken.append(unit)
                        ctx.reporter.unit_started(unit.file)
                        attempt = _copy_file(unit, ctx, copies, read, plans)
                        bounds.add(unit, attempt.tally)
                        attempts.append(attempt)
                    read.flush()
                    together.flush()
                landed.extend(_landed(attempt) for attempt in attempts)
                if copies.skipped:
                    raise LoadError(
                        f"a trigger on the table turned {copies.skipped} rows away; "
                        "each file's own count is taken on its own"
                    )
                start = ctx.metrics.now()
                _record(conn, landed, ctx)
                committing = True
            ctx.metrics.record_stage("copy", start, ctx.metrics.now())
    except psycopg.OperationalError as exc:
        if committing:
            if _landed_after_all(taken[0], ctx):
                return landed
            raise _CommitUnknownError(str(exc)) from exc
        raise translate_db_error(exc, table=table) from exc
    except psycopg.Error as exc:
        raise translate_db_error(exc, table=table) from exc
    return landed


def _landed_after_all(unit: Unit, ctx: UnitContext) -> bool:
    """Whether the group's COMMIT, whose reply was lost, landed (its first manifest row says)."""

    def recorded() -> bool:
        with ctx.pool.connection() as conn:
            return is_recorded(
                conn, decision=unit.decision, table_name=str(unit.table.name), run_id=ctx.run_id
            )

    try:
        return ctx.retrier.call(recorded, what=f"checking {unit.file.path} landed")
    except Exception:  # unknown: the files run alone, where the manifest index guards
        logger.info("could not tell whether a group landed", exc_info=True)
        return False


def _copy_file(
    unit: Unit, ctx: UnitContext, copies: SharedCopies, read: ReadTogether, plans: Plans
) -> Attempt:
    """One file's rows into the group's COPY, through the fast path's parse, convert and rules.

    A plain file's batches join the neighbours' for one conversion (``read.together``),
    and a small plain CSV file's records are parsed with theirs (``read``); a file
    with batch rules or a rescued column goes through the file's own batch order.
    """
    reader = open_reader(unit.file, unit.source)
    plan, read_plan = plans.of(unit, reader.column_names())
    rules = RuleChecker(unit.source.rules)
    tally = Tally(lacking=plan.lacking)
    attempt = Attempt(unit, plan, reader, ctx, copies.conn, False, None, rules, tally)
    if not rules.batch_rules and plan.rescued is None:
        records = None
        if isinstance(reader, CsvReader) and reader.can_read_together(read_plan):
            records = reader.records_to_read_together()
        if records is not None:
            read.add(attempt, records, read_plan)
            return attempt
        read.flush()
        for batch in parsed_batches(attempt):
            read.together.add(attempt, batch)
        return attempt
    read.flush()
    read.together.flush()
    attempt = replace(attempt, shared_writer=copies.writer_for(unit.table.name, plan.targets))
    copy_rows(attempt)
    return attempt


def _landed(attempt: Attempt) -> Landed:
    """A file whose rows are all in the group's COPY, checked and counted."""
    tally = attempt.tally
    # A trigger's turned-away rows are known when the statement ends; the group
    # then rolls back (see _copy_together), so here every row copied is inserted.
    tally.inserted = tally.copied
    attempt.check_limit()
    check_counts(attempt)
    tally.rejects = locate_rejects(tally.rejects, attempt.reader)
    return Landed(attempt.unit, tally, detected_encoding(attempt.reader))


def _record(conn: psycopg.Connection[Any], landed: list[Landed], ctx: UnitContext) -> None:
    """Every file's rejects and manifest row, in the group's transaction."""
    for one in landed:
        write_rejects(
            conn,
            run_id=ctx.run_id,
            table_name=str(one.unit.table.name),
            source=one.unit.file.path,
            rejects=one.tally.rejects,
        )
    units = [(one.unit.decision, str(one.unit.table.name)) for one in landed]
    if overlaps_loaded_many(conn, units):
        raise LoadedElsewhereError  # another run cut a file into chunks: each file decides alone
    record_loaded_many(
        conn,
        [
            LoadedRecord(
                one.unit.decision,
                str(one.unit.table.name),
                rows=one.tally.rows,
                rejected=len(one.tally.rejects),
            )
            for one in landed
        ],
        run_id=ctx.run_id,
    )
