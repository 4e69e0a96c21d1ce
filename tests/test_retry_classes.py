"""Which database failures are retried, by SQLSTATE, with faults made by a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgingest.config import parse_config
from pgingest.errors import ConnectError
from pgingest.load.connect import connect, translate_db_error
from pgingest.pipeline import RunOptions, run
from pgingest.retry import failure_kind
from pgingest.summary import RunReport
from tests.conftest import with_database

# The README's list: retried (class 08, class 53, 40001, 40P01, 55P03, 57P01/02/03/05) or not.
CLASSES = {
    "08006": "db",  # connection_failure
    "08001": "db",  # sqlclient_unable_to_establish_sqlconnection
    "53100": "db",  # disk_full
    "53200": "db",  # out_of_memory
    "53300": "db",  # too_many_connections
    "53400": "db",  # configuration_limit_exceeded
    "40001": "db",  # serialization_failure
    "40P01": "db",  # deadlock_detected
    "55P03": "db",  # lock_not_available
    "57P01": "db",  # admin_shutdown
    "57P02": "db",  # crash_shutdown
    "57P03": "db",  # cannot_connect_now
    "57P05": "db",  # idle_session_timeout
    "23505": None,  # unique_violation
    "22P02": None,  # invalid_text_representation
    "42501": None,  # insufficient_privilege
    "28P01": None,  # invalid_password
    "3D000": None,  # invalid_catalog_name
    "57014": None,  # query_canceled (a statement timeout would strike again)
    "57P04": None,  # database_dropped
}


@pytest.mark.parametrize(("sqlstate", "kind"), CLASSES.items())
def test_failures_are_classified_by_sqlstate(sqlstate: str, kind: str | None) -> None:
    error = psycopg.errors.lookup(sqlstate)("from the server")
    assert failure_kind(translate_db_error(error)) == kind


def test_a_lost_connection_without_sqlstate_is_retried() -> None:
    assert failure_kind(translate_db_error(psycopg.OperationalError("lost"))) == "db"


def _load(url: str, folder: Path, *, sleep: Any, connections: int = 1, **source: Any) -> RunReport:
    config = parse_config(
        {
            "settings": {
                "connections": connections,
                "workers": 1,
                "retry": {"db": {"attempts": 3}},
            },
            "sources": [{"name": "a", "paths": ["a.csv"], "table": "t", **source}],
        },
        base_dir=folder,
    )
    return run(config, RunOptions(database_url=url, sleep=sleep))


@pytest.fixture
def limited_role(db: psycopg.Connection[Any], database_url: str) -> Iterator[str]:
    """The URL of a role that may hold one connection, owning the test database."""
    role = f"pgingest_limited_{uuid.uuid4().hex[:8]}"
    name = db.info.dbname
    db.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 1").format(sql.Identifier(role)))
    db.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(role))
    )
    try:
        yield psycopg.conninfo.make_conninfo(with_database(database_url, name), user=role)
    finally:
        db.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_too_many_connections_is_retried_until_one_is_free(
    limited_role: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    db.execute("GRANT ALL ON t TO PUBLIC")
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    holder = psycopg.connect(limited_role)  # takes the role's only connection
    with pytest.raises(ConnectError) as refused:
        connect(limited_role)
    assert refused.value.sqlstate == "53300"
    assert refused.value.is_transient
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        holder.close()  # the other client goes away while pgingest waits

    report = _load(limited_role, tmp_path, sleep=sleep)
    assert report.is_success, report.failed_files
    assert len(waits) == 1
    assert report.retries["db"] == 1
    assert db.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_role_connection_limit_lowers_the_connections_used(
    limited_role: str, db: psycopg.Connection[Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    role = psycopg.conninfo.conninfo_to_dict(limited_role)["user"]
    db.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 2").format(sql.Identifier(role)))
    db.execute("CREATE TABLE t (id int)")
    db.execute("GRANT ALL ON t TO PUBLIC")
    (tmp_path / "a.csv").write_text("id\n1\n")
    report = _load(limited_role, tmp_path, sleep=lambda _: None, connections=4)
    assert report.is_success, report.failed_files
    assert "asked for 4 connections but the server has 2 free" in caplog.text


def test_a_login_refused_for_good_is_not_retried(database_url: str, tmp_path: Path) -> None:
    missing = with_database(database_url, f"pgingest_missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConnectError) as refused:
        connect(missing)
    assert refused.value.sqlstate == "3D000"
    assert not refused.value.is_transient
    assert "create the database first" in refused.value.describe()


def test_losing_the_connection_while_creating_the_stage_is_retried(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t VALUES (1, 'old')")
    # The first CREATE TABLE AS (the upsert's staging table) loses its backend.
    db.execute("CREATE SEQUENCE kill_once")
    db.execute(
        """
        CREATE FUNCTION kill_stage_once() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('kill_once') = 1 THEN
                PERFORM pg_terminate_backend(pg_backend_pid());
                PERFORM pg_sleep(10);
            END IF;
        END $$
        """
    )
    db.execute(
        "CREATE EVENT TRIGGER kill_stage ON ddl_command_start "
        "WHEN TAG IN ('CREATE TABLE AS') EXECUTE FUNCTION kill_stage_once()"
    )
    (tmp_path / "a.csv").write_text("id,v\n1,new\n2,b\n")
    waits: list[float] = []
    report = _load(database_url, tmp_path, sleep=waits.append, mode="upsert", key=["id"])
    assert report.is_success, report.failed_files
    assert report.retries["db"] == 1
    assert db.execute("SELECT nextval('kill_once')").fetchone() == (3,)
    assert db.execute("SELECT array_agg(v ORDER BY id) FROM t").fetchone() == (["new", "b"],)


def test_losing_the_connection_in_a_sql_rule_is_retried_not_blamed_on_the_rule(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    (tmp_path / "a.csv").write_text("id\n1\n")
    waits: list[float] = []
    rule = {"sql": "pg_terminate_backend(pg_backend_pid()) AND pg_sleep(10) IS NOT NULL"}
    report = _load(database_url, tmp_path, sleep=waits.append, validate=[rule])
    assert not report.is_success
    assert len(waits) == 2  # three attempts, each losing its connection
    assert "not valid SQL" not in report.failed_files[0].error
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
