"""What earlier runs left in the database: rejects (and, later, runs and per-source status)."""

from __future__ import annotations

from pgingest.config import Config
from pgingest.database import resolve_database
from pgingest.load.connect import connect
from pgingest.report.rejects import StoredReject, read_rejects

__all__ = ["list_rejects"]


def list_rejects(
    config: Config,
    *,
    database_url: str | None = None,
    run_id: str | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> list[StoredReject]:
    """Rejected records in the config's database, newest run first."""
    target = resolve_database(config, database_url)
    with connect(target.url) as conn:
        row = conn.execute("SELECT to_regclass('pgingest.rejects') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return []
        return read_rejects(conn, run_id=run_id, source=source, limit=limit)
