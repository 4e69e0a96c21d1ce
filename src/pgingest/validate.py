"""Data-quality rules, checked vectorised on each converted batch before COPY.

A rule names a column and a check (``not_null``, ``unique`` within the file,
``min``/``max``, ``in``, ``regex``, ``min_length``/``max_length``) and an action:
``reject`` (the row goes to pgingest.rejects with the rule that failed; the
default), ``fail`` (the file fails and nothing of it remains) or ``warn`` (the
row loads; the rule's count is reported). ``sql`` rules are checked on the
staging table instead (see load/merge.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.config import Rule
from pgingest.errors import ConfigError

__all__ = ["RuleChecker", "RuleFinding", "describe_rule"]


def describe_rule(rule: Rule) -> str:
    """A rule as a user wrote it, for messages: ``price min 0``."""
    parts = [rule.column or "row"]
    checks: list[tuple[str, Any]] = [
        ("not_null", rule.not_null or None),
        ("unique", rule.unique or None),
        ("min", rule.min),
        ("max", rule.max),
        ("in", rule.allowed),
        ("regex", rule.regex),
        ("min_length", rule.min_length),
        ("max_length", rule.max_length),
        ("sql", rule.sql),
    ]
    for name, value in checks:
        if value is True:
            parts.append(name)
        elif value is not None:
            parts.append(f"{name} {value}")
    return " ".join(parts)


@dataclass(frozen=True)
class RuleFinding:
    """Rows of a batch that broke one rule."""

    rule: Rule
    rows: np.ndarray  # row indices in the batch

    @property
    def description(self) -> str:
        """What rule failed."""
        return f"rule failed: {describe_rule(self.rule)}"


def _bound(value: Decimal | str, data_type: pa.DataType) -> pa.Scalar:
    """A rule's min/max as a scalar of the column's type (dates and numbers alike)."""
    if pa.types.is_decimal(data_type):
        return pa.scalar(Decimal(str(value)), pa.decimal128(38, max(data_type.scale, 9)))
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        return pa.scalar(float(value))
    return pc.cast(pa.scalar(str(value)), data_type)


@dataclass
class RuleChecker:
    """Checks a source's vectorisable rules on one file's batches (``unique`` spans batches)."""

    rules: Sequence[Rule]
    _seen: dict[int, set[Any]] = field(default_factory=dict)

    @property
    def batch_rules(self) -> list[Rule]:
        """The rules checked on Arrow batches (every rule but sql)."""
        return [r for r in self.rules if r.sql is None]

    def check(self, batch: pa.RecordBatch) -> list[RuleFinding]:
        """The rows of ``batch`` that break each rule (rules with no broken row are left out)."""
        findings = []
        for index, rule in enumerate(self.rules):
            if rule.sql is not None:
                continue
            bad = self._broken(index, rule, batch)
            if bad.any():
                findings.append(RuleFinding(rule, np.flatnonzero(bad)))
        return findings

    def _column(self, rule: Rule, batch: pa.RecordBatch) -> pa.Array:
        assert rule.column is not None
        if rule.column not in batch.schema.names:
            raise ConfigError(
                f"a validate rule names column {rule.column!r}, which the file does not load",
                hint="check the rule's column against the table and the file",
            )
        return batch.column(rule.column)

    def _broken(self, index: int, rule: Rule, batch: pa.RecordBatch) -> np.ndarray:
        column = self._column(rule, batch)
        broken = np.zeros(batch.num_rows, dtype=bool)
        present = pc.is_valid(column)
        if rule.not_null:
            broken |= _mask(pc.invert(present))
        if rule.min is not None:
            broken |= _mask(pc.less(column, _bound(rule.min, column.type)))
        if rule.max is not None:
            broken |= _mask(pc.greater(column, _bound(rule.max, column.type)))
        if rule.allowed is not None:
            allowed = pc.cast(pa.array([str(v) for v in rule.allowed]), pa.string())
            as_text = pc.cast(column, pa.string())
            broken |= _mask(pc.and_(present, pc.invert(pc.is_in(as_text, value_set=allowed))))
        if rule.regex is not None:
            as_text = pc.cast(column, pa.string())
            broken |= _mask(pc.invert(pc.match_substring_regex(as_text, rule.regex)))
        if rule.min_length is not None or rule.max_length is not None:
            lengths = pc.utf8_length(pc.cast(column, pa.string()))
            if rule.min_length is not None:
                broken |= _mask(pc.less(lengths, rule.min_length))
            if rule.max_length is not None:
                broken |= _mask(pc.greater(lengths, rule.max_length))
        if rule.unique:
            broken |= self._duplicates(index, column)
        return broken

    def _duplicates(self, index: int, column: pa.Array) -> np.ndarray:
        seen = self._seen.setdefault(index, set())
        broken = np.zeros(len(column), dtype=bool)
        for row, value in enumerate(column.to_pylist()):
            if value is None:
                continue
            if value in seen:
                broken[row] = True
            else:
                seen.add(value)
        return broken


def _mask(result: pa.Array) -> np.ndarray:
    """A boolean Arrow result as a numpy mask; NULL (unknown) breaks no rule, as in CHECK."""
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)
