"""pgingest's own tables in schema ``pgingest``: created on first run, upgraded in place.

* ``pgingest.files``   the manifest: one row per loaded (or failed) unit
* ``pgingest.rejects`` one row per rejected record
* ``pgingest.runs``    one row per run with its summary figures

Each migration runs once, in order, under an advisory lock, so concurrent
first runs do not race; ``pgingest.schema_version`` records how far it got.
"""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["MANIFEST_UNIQUE_INDEX", "MIGRATIONS", "ensure_schema", "has_tables"]

# The index that lets a file's content be loaded into a table only once.
MANIFEST_UNIQUE_INDEX = "files_loaded_once"

# A fixed key for pg_advisory_xact_lock: "pgingest" in ASCII, as a bigint.
SCHEMA_LOCK_KEY = 0x7067696E67657374

MIGRATIONS: list[str] = [
    # 1: the manifest, rejects and runs
    """
    CREATE TABLE IF NOT EXISTS pgingest.runs (
        run_id uuid PRIMARY KEY,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        status text NOT NULL DEFAULT 'running',
        config_path text,
        files_attempted integer NOT NULL DEFAULT 0,
        files_succeeded integer NOT NULL DEFAULT 0,
        files_failed integer NOT NULL DEFAULT 0,
        files_skipped integer NOT NULL DEFAULT 0,
        records_parsed bigint NOT NULL DEFAULT 0,
        records_inserted bigint NOT NULL DEFAULT 0,
        records_rejected bigint NOT NULL DEFAULT 0,
        report jsonb
    );
    CREATE TABLE IF NOT EXISTS pgingest.files (
        id bigserial PRIMARY KEY,
        path text NOT NULL,
        fingerprint text NOT NULL,
        size bigint,
        modified_ns bigint,
        table_name text NOT NULL,
        source text,
        rows bigint NOT NULL DEFAULT 0,
        rejected bigint NOT NULL DEFAULT 0,
        status text NOT NULL CHECK (status IN ('loaded', 'failed', 'replaced')),
        stage text,
        error text,
        run_id uuid,
        loaded_at timestamptz NOT NULL DEFAULT now()
    );
    -- At most one loaded row per file content and table: a concurrent second
    -- load of the same file fails at commit instead of duplicating rows.
    CREATE UNIQUE INDEX IF NOT EXISTS files_loaded_once
        ON pgingest.files (table_name, path, fingerprint) WHERE status = 'loaded';
    CREATE INDEX IF NOT EXISTS files_by_path ON pgingest.files (path, table_name);
    CREATE TABLE IF NOT EXISTS pgingest.rejects (
        id bigserial PRIMARY KEY,
        run_id uuid,
        table_name text NOT NULL,
        source text NOT NULL,
        line bigint,
        column_name text,
        value text,
        error text NOT NULL,
        sqlstate text,
        raw text,
        rejected_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS rejects_by_source ON pgingest.rejects (source, table_name);
    """,
    # 2: large files load in chunks, each a unit with its own manifest row
    """
    ALTER TABLE pgingest.files ADD COLUMN IF NOT EXISTS part text NOT NULL DEFAULT '';
    DROP INDEX IF EXISTS pgingest.files_loaded_once;
    CREATE UNIQUE INDEX files_loaded_once
        ON pgingest.files (table_name, path, fingerprint, part) WHERE status = 'loaded';
    """,
    # 3: a run's figures add up in its row: parsed = inserted + updated + duplicates + rejected
    """
    ALTER TABLE pgingest.runs
        ADD COLUMN IF NOT EXISTS records_updated bigint NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS records_duplicates bigint NOT NULL DEFAULT 0;
    """,
]


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create or upgrade pgingest's schema; safe to call from many processes at once."""
    current = _current_version(conn)
    if current >= len(MIGRATIONS):
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS pgingest")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS pgingest.schema_version (version integer NOT NULL)"
        )
        row = conn.execute("SELECT max(version) FROM pgingest.schema_version").fetchone()
        applied = row[0] if row and row[0] is not None else 0
        for version, statement in enumerate(MIGRATIONS, start=1):
            if version > applied:
                conn.execute(statement)
                conn.execute("INSERT INTO pgingest.schema_version VALUES (%s)", (version,))


def has_tables(conn: psycopg.Connection[Any], *names: str) -> bool:
    """Whether every one of pgingest's tables ``names`` (``"runs"``, ``"files"``…) exists.

    Readers ask before they query: a database no run has written to yet has none.
    """
    row = conn.execute(
        "SELECT bool_and(to_regclass(format('pgingest.%%I', name)) IS NOT NULL)"
        " FROM unnest(%s::text[]) AS name",
        (list(names),),
    ).fetchone()
    return bool(row and row[0])


def _current_version(conn: psycopg.Connection[Any]) -> int:
    if not has_tables(conn, "schema_version"):
        return 0
    row = conn.execute("SELECT max(version) FROM pgingest.schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
