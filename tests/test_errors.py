"""Errors carry typed context, describe themselves in one line, and pickle whole."""

from __future__ import annotations

import pickle

import pytest

from pgingest.errors import (
    ConfigError,
    ConnectError,
    LoadError,
    ParseError,
    PgIngestError,
    SourceError,
)


def test_context_reads_as_attributes_and_unset_fields_are_none() -> None:
    error = ParseError("not a number", path="data/a.csv", line=7, column="price")
    assert (error.path, error.line, error.column, error.table) == ("data/a.csv", 7, "price", None)
    assert error.hint is None
    assert not error.is_transient


def test_a_misspelt_attribute_fails_loudly() -> None:
    error = ParseError("not a number", path="data/a.csv", line=7)
    with pytest.raises(AttributeError):
        _ = error.lines  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = error.sqlstate  # type: ignore[attr-defined]  # only a LoadError has one


def test_a_misspelt_context_name_is_refused() -> None:
    with pytest.raises(TypeError):
        SourceError("gone", pth="data/a.csv")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        SourceError("gone").with_context(tabel="public.t")  # type: ignore[call-arg]


def test_each_class_adds_what_only_it_knows() -> None:
    refused = LoadError("duplicate key", sqlstate="23505", table="public.events")
    assert (refused.sqlstate, refused.table) == ("23505", "public.events")
    assert ConnectError("no route").sqlstate is None
    config = ConfigError("unknown key", file="data_files.json", location="sources[0].tabel")
    assert (config.file, config.location) == ("data_files.json", "sources[0].tabel")
    assert config.describe() == "data_files.json: sources[0].tabel: unknown key"


def test_describe_says_what_where_and_what_to_do() -> None:
    error = ParseError("bad date", path="a.csv", line=3, column="day", hint="use YYYY-MM-DD")
    assert error.describe() == "a.csv:3, column 'day': bad date (use YYYY-MM-DD)"
    assert str(error) == error.describe()
    assert LoadError("refused", table="public.t").describe() == "table public.t: refused"
    assert ParseError("nul \x00 here").describe() == "nul \\x00 here"


def test_with_context_fills_only_what_is_unknown() -> None:
    error = ParseError("bad", path="inner.csv", line=4)
    same = error.with_context(path="outer.csv", table="public.t")
    assert same is error
    assert (error.path, error.line, error.table) == ("inner.csv", 4, "public.t")


class _TwoArgumentError(LoadError):
    """A subclass whose constructor does not take the message first."""

    def __init__(self, table: str, count: int) -> None:
        super().__init__(f"{count} problems in {table}", table=table)
        self.count = count


@pytest.mark.parametrize(
    "error",
    [
        ParseError("bad", path="a.csv", line=2, column="x", hint="fix it"),
        SourceError("gone", path="s3://b/k.csv", is_transient=True),
        LoadError("refused", sqlstate="23505", table="public.t", path="a.csv"),
        ConnectError("down", sqlstate="57P03", is_transient=True),
        ConfigError("bad key", file="data_files.json", location="sources[0]"),
        _TwoArgumentError("public.t", 3),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_pickle_with_their_context(error: PgIngestError) -> None:
    error.message = error.message + " (changed after raising)"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert copy.is_transient == error.is_transient
    assert copy.describe() == error.describe()
