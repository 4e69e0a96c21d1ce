"""One timed, verified load: recreate the table, run the peer's command, check the table.

Verification: the load must exit 0 and leave exactly the row count of the
files it read, and its checksum must equal the reference for that row count,
which the first load of that many rows that passes the other two checks sets
(its peer is recorded, so a wrong reference shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from database import TableState, prepare_target, read_table_state
from dataset import DataSet
from measure import ProcessMeasure, run_measured
from peers import LoadContext, Peer
from results import LoadRecord


@dataclass(frozen=True, kw_only=True)
class LoadSettings:
    """What every load of a run shares."""

    database_url: str
    workers: int
    timeout_seconds: float
    out_dir: Path


@dataclass
class ChecksumReference:
    """The checksum every load of a given row count must match, and the load that set it."""

    checksums: dict[int, tuple[str, str]] = field(default_factory=dict)  # rows → (sum, load)

    @property
    def set_by(self) -> str | None:
        """Which load set each reference, for the results' header."""
        if not self.checksums:
            return None
        return "; ".join(f"{rows:,} rows: {load}" for rows, (_, load) in self.checksums.items())

    def check(self, load: str, measure: ProcessMeasure, state: TableState, rows: int) -> str | None:
        """The reason the load is not verified, or None; the first good load sets the value."""
        if measure.is_timed_out:
            return f"timed out after {measure.wall_seconds:.0f} s"
        if measure.exit_code != 0:
            return f"exit status {measure.exit_code}: {_last_line(measure.log_tail)}"
        if state.rows != rows:
            return f"{state.rows:,} rows instead of {rows:,}"
        if rows not in self.checksums:
            self.checksums[rows] = (state.checksum, load)
            return None
        checksum, set_by = self.checksums[rows]
        if state.checksum != checksum:
            return f"checksum {state.checksum} differs from {set_by}'s {checksum}"
        return None


def load_once(
    peer: Peer,
    *,
    round_index: int,
    data_set: DataSet,
    settings: LoadSettings,
    reference: ChecksumReference,
) -> LoadRecord:
    """Recreate the table, time the peer's load, verify what it left."""
    load_dir = settings.out_dir / "loads" / f"round{round_index + 1}-{peer.key}"
    load_dir.mkdir(parents=True, exist_ok=True)
    context = LoadContext(
        data_set=data_set,
        database_url=settings.database_url,
        workers=settings.workers,
        load_dir=load_dir,
    )
    prepare_target(settings.database_url)
    command = peer.build_command(context)
    measure = run_measured(
        command, log_path=load_dir / "output.log", timeout_seconds=settings.timeout_seconds
    )
    state = read_table_state(settings.database_url)
    load_name = f"{peer.key} (round {round_index + 1})"
    problem = reference.check(load_name, measure, state, data_set.rows_of(peer.layout))
    return LoadRecord(
        round=round_index + 1,
        peer=peer.key,
        exit_code=measure.exit_code,
        wall_seconds=measure.wall_seconds,
        peak_rss_bytes=measure.peak_rss_bytes,
        cpu_seconds=measure.cpu_seconds,
        rows=state.rows,
        checksum=state.checksum,
        is_verified=problem is None,
        problem=problem,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
