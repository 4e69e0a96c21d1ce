"""Table names read as PostgreSQL reads them; URLs shown without passwords."""

from __future__ import annotations

import pytest

from pgingest.naming import TableName, parse_table_name, redact_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("events", TableName("public", "events")),
        ("Events", TableName("public", "events")),
        ("Sales.Events", TableName("sales", "events")),
        ('"Sales"."My Events"', TableName("Sales", "My Events")),
        ('s."a""b"', TableName("s", 'a"b')),
        ('"semi;colon"', TableName("public", "semi;colon")),
    ],
)
def test_parse_table_name(text: str, expected: TableName) -> None:
    assert parse_table_name(text) == expected


@pytest.mark.parametrize("text", ["", "a..b", '"unclosed', "a.b.c.d", '""'])
def test_bad_table_names(text: str) -> None:
    with pytest.raises(ValueError, match="table name"):
        parse_table_name(text)


def test_table_name_display_quotes_only_when_needed() -> None:
    assert str(TableName("public", "events")) == "public.events"
    assert str(TableName("public", "My Events")) == 'public."My Events"'


def test_redact_url() -> None:
    assert redact_url("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact_url("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert redact_url("postgresql://postgres:@/postgres?host=/tmp") == (
        "postgresql://postgres@/postgres?host=/tmp"
    )
    assert "s3cret" not in redact_url("host=db password=s3cret user=bob")
