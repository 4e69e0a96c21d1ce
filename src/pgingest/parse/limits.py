"""Inputs within bounds: checked on the bytes, before a parser spends memory on them.

A CSV header wider than ``max_columns`` fails before pyarrow's reader is
opened (it sets up every column: 20,000 took 600 MB), counted on the first
line's bytes.

Python's JSON parser recurses once per nesting level (a RecursionError past
~1,000) and some parsers spend memory quadratic in the depth (issue 17: 20 KB
of ``[`` took 580 MB); a line reader holds a whole line. ``JsonGuard`` sits
between the file and the parser, passes the bytes through unchanged and fails
the file (``settings.limits``, see config.Limits) at the first byte past a
limit, with its line. It costs one vectorised scan per block.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from pgingest.config import Limits
from pgingest.decompression import LIMITS_HINT
from pgingest.errors import ParseError

__all__ = ["JsonGuard", "check_header_width"]

# The first line is looked for in this many bytes (pyarrow's header block is as large).
HEADER_SCAN_BYTES = 1 << 20
# Delimiters counted when the source names none (sniffed later by the CSV reader).
_LIKELY_DELIMITERS = (",", ";", "\t", "|")

_QUOTE, _BACKSLASH, _NEWLINE = 0x22, 0x5C, 0x0A
# Each byte's step in nesting depth: +1 for [ and {, -1 for ] and }, else 0.
_STEPS = np.zeros(256, dtype=np.int8)
_STEPS[[0x5B, 0x7B]] = 1
_STEPS[[0x5D, 0x7D]] = -1


def check_header_width(head: bytes, delimiter: str, limits: Limits, *, path: str) -> None:
    """Fail a delimited file whose first line has more than ``max_columns`` fields.

    Counts delimiter bytes (quotes ignored): an upper bound, read before any parser runs.
    """
    line = head.split(b"\n", 1)[0]
    choices = [delimiter] if len(delimiter) == 1 else list(_LIKELY_DELIMITERS)
    fields = max(line.count(c.encode()) for c in choices) + 1
    if fields > limits.max_columns:
        raise ParseError(
            f"the first line has {fields:,} fields, more than max_columns ({limits.max_columns:,})",
            hint=LIMITS_HINT.format("max_columns"),
            path=path,
            line=1,
        )


@dataclass
class _JsonState:
    """What the scan of earlier blocks leaves for the next one."""

    offset: int = 0  # bytes scanned before this block
    lines: int = 0  # newlines before this block
    depth: int = 0
    in_string: bool = False
    backslashes: int = 0  # the run of backslashes that ended the last block
    string_start: int = -1  # where the open string started (file offset)
    record_start: int = -1  # where the open record started (file offset)
    line_start: int = 0  # where the current line started (file offset)


class JsonGuard(io.RawIOBase):
    """JSON text passed through unchanged; fails at nesting past ``max_json_depth`` or a
    record, line or string longer than ``max_record_bytes``.

    A record is what a reader holds whole: a line of NDJSON, an element of a
    top-level array (``record_depth`` 2), or a file that is one object.
    """

    def __init__(
        self, source: IO[bytes], limits: Limits, *, path: str, record_depth: int, is_lines: bool
    ) -> None:
        super().__init__()
        self._source = source
        self._limits = limits
        self._path = path
        self._record_depth = record_depth
        self._is_lines = is_lines
        self._state = _JsonState()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        size = len(data)
        if size:
            self._scan(data)
        memoryview(buffer)[:size] = data
        return size

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    # --- the scan ----------------------------------------------------------------------

    def _fail(self, message: str, position: int, block: np.ndarray, setting: str) -> ParseError:
        line = self._state.lines + int(np.count_nonzero(block[:position] == _NEWLINE)) + 1
        return ParseError(message, hint=LIMITS_HINT.format(setting), path=self._path, line=line)

    def _real_quotes(self, block: np.ndarray) -> np.ndarray:
        """Positions of the quotes that open or close a string (not escaped by a backslash)."""
        quotes = np.flatnonzero(block == _QUOTE)
        if not len(quotes):
            return quotes
        carried = self._state.backslashes
        after_backslash = block[np.maximum(quotes - 1, 0)] == _BACKSLASH
        after_backslash[quotes == 0] = carried > 0
        if not after_backslash.any():
            return quotes  # nothing escaped: the common case
        # A quote is escaped by an odd run of backslashes before it; runs are found
        # among the backslashes only (a run at the block's start continues the last).
        slashes = np.flatnonzero(block == _BACKSLASH)
        starts_run = np.ones(len(slashes), dtype=bool)
        starts_run[1:] = np.diff(slashes) != 1
        run_first = np.maximum.accumulate(np.where(starts_run, np.arange(len(slashes)), 0))
        candidates = quotes[after_backslash & (quotes > 0)]
        first = slashes[run_first[np.searchsorted(slashes, candidates - 1)]]
        runs = candidates - first + np.where(first == 0, carried, 0)
        escaped = np.zeros(len(quotes), dtype=bool)
        escaped[np.flatnonzero(after_backslash & (quotes > 0))] = runs % 2 == 1
        if quotes[0] == 0:
            escaped[0] = carried % 2 == 1
        kept: np.ndarray = quotes[~escaped]
        return kept

    def _scan(self, data: bytes) -> None:
        block = np.frombuffer(data, dtype=np.uint8)
        state, limit = self._state, self._limits.max_record_bytes
        quotes = self._real_quotes(block)
        self._check_strings(block, quotes, limit)
        all_steps = _STEPS[block]
        brackets = np.flatnonzero(all_steps)
        inside = (np.searchsorted(quotes, brackets) + state.in_string) % 2 == 1
        brackets = brackets[~inside]
        steps = all_steps[brackets].astype(np.int64)
        depths = state.depth + np.cumsum(steps)
        if len(depths) and int(depths.max()) > self._limits.max_json_depth:
            where = int(brackets[np.argmax(depths > self._limits.max_json_depth)])
            raise self._fail(
                f"JSON nested deeper than {self._limits.max_json_depth} levels (max_json_depth)",
                where,
                block,
                "max_json_depth",
            )
        self._check_records(block, brackets, steps, depths, limit)
        newlines = np.flatnonzero(block == _NEWLINE)
        if self._is_lines:
            self._check_lines(block, newlines, limit)
        state.depth = int(depths[-1]) if len(depths) else state.depth
        state.in_string = bool((state.in_string + len(quotes)) % 2)
        trailing = len(data) - len(data.rstrip(b"\\"))
        state.backslashes = trailing if trailing < len(data) else state.backslashes + trailing
        state.offset += len(block)
        state.lines += len(newlines)

    def _check_strings(self, block: np.ndarray, quotes: np.ndarray, limit: int) -> None:
        state = self._state
        if len(block) <= limit:
            # Only a string begun in an earlier block can be too long: check that one.
            end = state.offset + (int(quotes[0]) if len(quotes) and state.in_string else len(block))
            if state.in_string and end - state.string_start > limit:
                raise self._fail(
                    f"a JSON string longer than {limit:,} bytes (max_record_bytes)",
                    0,
                    block,
                    "max_record_bytes",
                )
            if (state.in_string + len(quotes)) % 2 and len(quotes):
                state.string_start = state.offset + int(quotes[-1])
            return
        starts = quotes[(np.arange(len(quotes)) + state.in_string) % 2 == 0] + state.offset
        ends = quotes[(np.arange(len(quotes)) + state.in_string) % 2 == 1] + state.offset
        if state.in_string:
            starts = np.concatenate(([state.string_start], starts))
        if len(starts) > len(ends):
            state.string_start = int(starts[-1])
            ends = np.concatenate((ends, [state.offset + len(block)]))
        self._check_spans(block, starts, ends, limit, "a JSON string")

    def _check_records(
        self,
        block: np.ndarray,
        brackets: np.ndarray,
        steps: np.ndarray,
        depths: np.ndarray,
        limit: int,
    ) -> None:
        state, level = self._state, self._record_depth
        starts = brackets[(steps == 1) & (depths == level)] + state.offset
        ends = brackets[(steps == -1) & (depths == level - 1)] + state.offset
        if state.record_start >= 0:
            starts = np.concatenate(([state.record_start], starts))
        state.record_start = -1
        if len(starts) > len(ends):
            state.record_start = int(starts[-1])
            ends = np.concatenate((ends, [state.offset + len(block)]))
        self._check_spans(block, starts, ends, limit, "a JSON record")

    def _check_lines(self, block: np.ndarray, newlines: np.ndarray, limit: int) -> None:
        state = self._state
        newlines = newlines + state.offset
        starts = np.concatenate(([state.line_start], newlines + 1))
        ends = np.concatenate((newlines, [state.offset + len(block)]))
        state.line_start = int(starts[-1])
        self._check_spans(block, starts, ends, limit, "a line")

    def _check_spans(
        self, block: np.ndarray, starts: np.ndarray, ends: np.ndarray, limit: int, what: str
    ) -> None:
        count = min(len(starts), len(ends))
        too_long = np.flatnonzero(ends[:count] - starts[:count] > limit)
        if len(too_long):
            where = max(int(starts[too_long[0]]) - self._state.offset, 0)
            raise self._fail(
                f"{what} longer than {limit:,} bytes (max_record_bytes)",
                where,
                block,
                "max_record_bytes",
            )
