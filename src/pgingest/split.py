"""Large CSV files split into chunks that parse and load in parallel, each a unit of its own.

One big file on one connection keeps one server backend busy while the other
cores idle; split into chunks it loads over every connection. A chunk boundary
must fall between records, not inside a quoted value that holds a newline: the
file is scanned once (vectorised, block by block) counting quote characters,
and a boundary is the first newline past each target offset where the count of
quotes so far is even. With a doubled quote as the escape (COPY's default)
parity is exact; a file with another escape character, or compressed, is not
split. Boundaries depend only on the file's bytes and CHUNK_BYTES, so a re-run
finds the same chunks and loads just the ones that did not land.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from pgingest.config import Source
from pgingest.discover import Chunk, SourceFile, part_range
from pgingest.errors import ParseError
from pgingest.parse.sniff import Dialect, sniff_file_dialect

__all__ = [
    "CHUNK_BYTES",
    "SCAN_BLOCK_BYTES",
    "can_split",
    "chunk_boundaries",
    "remaining_chunks",
    "split_file",
]

logger = logging.getLogger(__name__)

# 64 MiB chunks: a 400 MB file becomes ~7 units, enough to keep two to eight
# connections busy to the end, while each chunk still streams in many batches.
CHUNK_BYTES = 64 << 20
# Bytes after a boundary that must parse cleanly for the boundary to be used.
CHECK_BYTES = 64 << 10
# The scan reads this much at a time: positions of quotes and newlines are
# kept only for a block that holds a boundary, so memory stays near 4 blocks.
SCAN_BLOCK_BYTES = 4 << 20

_NEWLINE = ord("\n")


def _starts_cleanly(path: str, offset: int, header: list[str], dialect: Dialect) -> bool:
    """Whether the records right after ``offset`` parse into the file's columns.

    Quote parity is exact for files that follow RFC 4180; a stray quote in the
    middle of an unquoted value would fool it, so each boundary is checked with
    the real parser before it is used.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        sample = handle.read(CHECK_BYTES)
    complete = _whole_records(sample, ord(dialect.quote or '"'))
    if not complete:
        return False
    ragged: list[object] = []

    def on_ragged(row: object) -> str:
        ragged.append(row)
        return "skip"

    try:
        pcsv.read_csv(
            pa.BufferReader(complete),
            read_options=pcsv.ReadOptions(column_names=header, use_threads=False),
            parse_options=pcsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote or False,
                newlines_in_values=True,
                invalid_row_handler=on_ragged,
            ),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.binary())),
        )
    except pa.ArrowInvalid:
        return False
    return not ragged


def _dialect(file: SourceFile, source: Source) -> Dialect | None:
    """The file's delimiter and quote (sniffed as its reader sniffs them); None: unknown."""
    try:
        return sniff_file_dialect(
            file, source.csv, is_tsv=file.format == "tsv", open_text=lambda f: open(f.path, "rb")
        )
    except (ParseError, OSError):
        return None  # the load reports why


def _whole_records(sample: bytes, quote_byte: int) -> bytes:
    """The sample up to its last newline outside quotes (the boundary starts outside them)."""
    data = np.frombuffer(sample, dtype=np.uint8)
    newlines = np.flatnonzero(data == _NEWLINE)
    quotes = np.flatnonzero(data == quote_byte)
    outside = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return sample[: int(outside[-1]) + 1] if outside.size else b""


def chunk_boundaries(
    path: str, *, size: int, quote: str, chunk_bytes: int = CHUNK_BYTES
) -> list[tuple[int, int]]:
    """(byte offset, line number) of each boundary past the first chunk, in order.

    The offset is where a chunk starts (just after a newline between records)
    and the line number is that line's, 1-based.
    """
    quote_byte = ord(quote)
    targets = list(range(chunk_bytes, size - chunk_bytes // 2, chunk_bytes))
    boundaries: list[tuple[int, int]] = []
    quotes_before = 0
    lines_before = 0
    position = 0
    with open(path, "rb") as handle:
        while targets and position < size:
            block = np.frombuffer(handle.read(SCAN_BLOCK_BYTES), dtype=np.uint8)
            if block.size == 0:
                break
            end = position + block.size
            if targets[0] >= end:  # no boundary here: count, without positions
                quotes_before += int(np.count_nonzero(block == quote_byte))
                lines_before += int(np.count_nonzero(block == _NEWLINE))
                position = end
                continue
            newlines = np.flatnonzero(block == _NEWLINE)
            quotes = np.flatnonzero(block == quote_byte)
            while targets and targets[0] < end:
                target = max(targets[0] - position, 0)
                candidates = newlines[newlines >= target]
                parity = (quotes_before + np.searchsorted(quotes, candidates)) % 2
                outside = candidates[parity == 0]
                if outside.size == 0:
                    break  # the boundary lies in a later block
                offset = int(outside[0]) + 1
                line = lines_before + int(np.searchsorted(newlines, outside[0])) + 2
                boundaries.append((position + offset, line))
                targets = [t for t in targets if t >= position + offset + chunk_bytes // 2]
            quotes_before += quotes.size
            lines_before += newlines.size
            position = end
    return [b for b in boundaries if b[0] < size]


def keeps_file_guarantees(source: Source, max_rejects: int | None) -> bool:
    """Whether a source's promises hold when its files load in chunks (one unit each).

    A chunk commits on its own, so whatever is promised for a file as a whole
    — at most max_rejects, a rule that fails the file, unique within it,
    min/max rows, the last row of a key winning — rules splitting out.
    """
    whole_file_rules = any(r.action == "fail" or r.unique for r in source.rules)
    return (
        source.mode == "append"
        and max_rejects is None
        and not whole_file_rules
        and source.min_rows is None
        and source.max_rows is None
    )


def can_split(
    file: SourceFile,
    source: Source,
    chunk_bytes: int = CHUNK_BYTES,
    max_rejects: int | None = None,
) -> bool:
    """Whether a file is worth splitting (1.5 chunks or more) and can be split safely."""
    return (
        keeps_file_guarantees(source, max_rejects)
        and file.format in ("csv", "tsv")
        and file.compression is None
        and file.chunk is None
        and file.origin is None  # remote objects and zip members load whole
        and file.size >= chunk_bytes * 3 // 2
        and source.csv.escape is None
        and source.csv.quote is not None
        # Text-format TSV (no quoting) is read whole: boundaries here count quotes.
        and source.csv.style_for(is_tsv=file.format == "tsv") == "csv"
        and source.csv.skip_rows == 0
        # Newlines and quotes are found byte by byte: only in UTF-8 (and ASCII) text.
        and _splits_by_bytes(source.encoding or source.csv.encoding)
    )


def _splits_by_bytes(encoding: str) -> bool:
    # "auto" finds UTF-8 or an ASCII-compatible encoding (a UTF-16 file has a byte-order mark).
    return encoding.lower() == "auto" or codecs.lookup(encoding).name in ("utf-8", "ascii")


def _line_at(path: str, offset: int) -> int:
    """The 1-based line number of the line that starts at ``offset``."""
    lines = 0
    with open(path, "rb") as handle:
        while offset > 0:
            block = np.frombuffer(handle.read(min(SCAN_BLOCK_BYTES, offset)), dtype=np.uint8)
            if block.size == 0:
                break
            lines += int(np.count_nonzero(block == _NEWLINE))
            offset -= block.size
    return lines + 1


def remaining_chunks(
    file: SourceFile,
    header: list[str],
    source: Source,
    loaded_parts: tuple[str, ...],
    chunk_bytes: int = CHUNK_BYTES,
) -> list[SourceFile]:
    """The chunks of a file that a crashed run did not land (loaded parts stay as they were)."""
    loaded = sorted(r for r in (part_range(p) for p in loaded_parts) if r is not None)
    fresh = split_file(file, header, source, chunk_bytes)
    gaps: list[tuple[int, int]] = []
    position = 0
    for start, end in loaded:
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < file.size:
        gaps.append((position, file.size))
    chunks: list[SourceFile] = []
    for gap_start, gap_end in gaps:
        inside = [
            c
            for c in fresh
            if c.chunk is not None and gap_start <= c.chunk.start and c.chunk.end <= gap_end
        ]
        covered = sum(c.chunk.end - c.chunk.start for c in inside if c.chunk is not None)
        if covered == gap_end - gap_start:
            chunks.extend(inside)
        else:  # the old boundaries differ from today's: load the gap as one chunk
            chunks.append(
                replace(
                    file,
                    chunk=Chunk(gap_start, gap_end, _line_at(file.path, gap_start), tuple(header)),
                )
            )
    return chunks


def split_file(
    file: SourceFile, header: list[str], source: Source, chunk_bytes: int = CHUNK_BYTES
) -> list[SourceFile]:
    """The file as chunks (or as itself when it is small or cannot be split)."""
    if not can_split(file, source, chunk_bytes):
        return [file]
    dialect = _dialect(file, source)
    if dialect is None or dialect.quote is None:
        return [file]
    try:
        boundaries = chunk_boundaries(
            file.path, size=file.size, quote=dialect.quote, chunk_bytes=chunk_bytes
        )
    except OSError:
        return [file]  # the load will report why the file cannot be read
    if not all(_starts_cleanly(file.path, offset, header, dialect) for offset, _ in boundaries):
        logger.warning("%s: not split, its quoting is irregular; it loads as one unit", file.path)
        return [file]
    if not boundaries:
        return [file]
    starts = [(0, 1), *boundaries]
    ends = [b[0] for b in boundaries] + [file.size]
    chunks = [
        replace(file, chunk=Chunk(start, end, first_line, tuple(header)))
        for (start, first_line), end in zip(starts, ends, strict=True)
    ]
    logger.info("%s: %d chunks of about %d bytes", file.path, len(chunks), chunk_bytes)
    return chunks
