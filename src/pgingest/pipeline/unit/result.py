"""How a unit ended: its tally when it landed, its failure when it did not."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgingest.discover import SourceFile
from pgingest.errors import LoadError, PgIngestError
from pgingest.parse import SourceReader
from pgingest.parse.encoding import TextEncoding
from pgingest.pipeline.unit.model import RejectRatioError, Tally, TooManyRejectsError, Unit
from pgingest.pipeline.unit.reject_ratio import likely_cause
from pgingest.store.rejects import Reject

__all__ = [
    "UnitFailure",
    "UnitResult",
    "detected_encoding",
    "lacking_warning",
    "locate_rejects",
    "too_many_rejects",
]


@dataclass(frozen=True)
class UnitFailure:
    """Why a unit did not land: the stage it failed in, the error, the rejects that failed it."""

    stage: str
    error: PgIngestError
    rejects: tuple[Reject, ...] = ()


@dataclass(frozen=True)
class UnitResult:
    """How a unit ended; its figures are read from the tally of the attempt that landed."""

    unit: Unit
    tally: Tally = field(default_factory=Tally)  # empty unless the unit landed
    failure: UnitFailure | None = None
    started: float = 0.0
    finished: float = 0.0
    skipped: bool = False  # another run loaded the file first
    encoding: str | None = None  # the text encoding, where detected (not declared, not UTF-8)
    notes: tuple[
        str, ...
    ] = ()  # how the reader read the file (a sniffed delimiter), for the report

    @property
    def file(self) -> SourceFile:
        """The file (or chunk) the unit loaded."""
        return self.unit.file

    @property
    def rows(self) -> int:
        """Rows inserted or updated."""
        return self.tally.rows

    @property
    def parsed(self) -> int:
        """Records read from the file."""
        return self.tally.parsed

    @property
    def inserted(self) -> int:
        """Rows inserted."""
        return self.tally.inserted

    @property
    def updated(self) -> int:
        """Rows updated (upsert)."""
        return self.tally.updated

    @property
    def duplicates(self) -> int:
        """Records merged into another record of the same key (upsert)."""
        return self.tally.duplicates

    @property
    def skipped_by_trigger(self) -> int:
        """Rows a BEFORE trigger on the table returned NULL for."""
        return self.tally.skipped

    @property
    def rescued(self) -> int:
        """Rows written with a value in the rescued column (of those inserted or updated)."""
        return self.tally.rescued

    @property
    def warned(self) -> int:
        """Records a rule with action ``warn`` flagged."""
        return self.tally.warned

    @property
    def lacking(self) -> tuple[str, ...]:
        """Table columns the file does not have (given their defaults)."""
        return self.tally.lacking

    @property
    def rejects(self) -> tuple[Reject, ...]:
        """Records set aside: those that landed as rejects, or those that failed the file."""
        if self.failure is not None:
            return self.failure.rejects
        return tuple(self.tally.rejects)

    @property
    def rejected(self) -> int:
        """Records set aside as rejects."""
        return len(self.rejects)

    @property
    def error(self) -> PgIngestError | None:
        """Why the unit failed, if it did."""
        return self.failure.error if self.failure is not None else None

    @property
    def stage(self) -> str | None:
        """The stage the unit failed in, if it did."""
        return self.failure.stage if self.failure is not None else None

    @property
    def is_success(self) -> bool:
        """Whether the unit's rows landed."""
        return self.failure is None and not self.skipped


def lacking_warning(unit: Unit, lacking: tuple[str, ...]) -> str:
    """The warning naming the table columns a loaded file does not have."""
    names = ", ".join(repr(name) for name in lacking[:20])
    more = f" and {len(lacking) - 20} more" if len(lacking) > 20 else ""
    return (
        f"{unit.file.path}: the file has no column {names}{more} of table {unit.table.name}; "
        "those columns got their defaults (or NULL)"
    )


def detected_encoding(reader: SourceReader) -> str | None:
    """The codec a text reader detected (None when declared, UTF-8, or not text)."""
    found = getattr(reader, "text_encoding", None)
    return found.codec if isinstance(found, TextEncoding) and found.is_detected else None


def locate_rejects(rejects: list[Reject], reader: SourceReader) -> list[Reject]:
    """Rejects with their line and raw text, in file order."""
    if not rejects:
        return rejects
    places = reader.locate(r.record for r in rejects)
    located = []
    for reject in rejects:
        place = places.get(reject.record)
        located.append(
            reject.located(place.line, place.raw) if place else reject.located(None, None)
        )
    return sorted(located, key=lambda r: r.record)


def too_many_rejects(exc: TooManyRejectsError, reader: SourceReader, unit: Unit) -> UnitFailure:
    """The failure of a file that had more rejects than max_rejects (or max_reject_ratio)."""
    located = locate_rejects(exc.rejects, reader)
    if isinstance(exc, RejectRatioError):
        error = _ratio_error(exc, located, unit, getattr(reader, "delimiter", ","))
    else:
        error = LoadError(
            f"{len(located)} record{'s' if len(located) != 1 else ''} rejected, more than "
            f"max_rejects ({exc.limit}); "
            f"first: line {located[0].line}: {located[0].error}",
            hint="see `pgingest rejects` for this file, fix the records, or raise max_rejects",
            path=unit.file.path,
            table=str(unit.table.name),
        )
    return UnitFailure("validate", error, tuple(located))


def _ratio_error(
    exc: RejectRatioError, located: list[Reject], unit: Unit, delimiter: str
) -> LoadError:
    share = len(located) / exc.parsed if exc.parsed else 1.0
    return LoadError(
        f"{len(located):,} of {exc.parsed:,} records rejected ({share:.0%}), more than "
        f"max_reject_ratio ({exc.ratio:g}); none of the file was loaded; likely cause: "
        f"{likely_cause(located, unit.file.format, delimiter)}; "
        f"first: line {located[0].line}: {located[0].error}",
        hint="see `pgingest rejects` for this file; fix the source's settings or the file, "
        "or raise max_reject_ratio (--max-reject-ratio)",
        path=unit.file.path,
        table=str(unit.table.name),
    )
