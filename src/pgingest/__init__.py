"""pgingest: load many CSV, JSON and Parquet files into PostgreSQL, fast and exactly once.

Library use mirrors the command line::

    import pgingest

    config = pgingest.load_config("data_files.json")
    report = pgingest.run(config)
    print(report.records_inserted, report.failed_files)
"""

from __future__ import annotations

from pgingest.config import Config, load_config, parse_config
from pgingest.errors import (
    ConfigError,
    ConnectError,
    LoadError,
    ParseError,
    PgIngestError,
    SourceError,
)
from pgingest.pipeline import RunOptions, run
from pgingest.report.metrics import Metrics
from pgingest.report.reporter import NullReporter, Reporter
from pgingest.report.run_report import FailedFile, RunReport

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "ConnectError",
    "FailedFile",
    "LoadError",
    "Metrics",
    "NullReporter",
    "ParseError",
    "PgIngestError",
    "Reporter",
    "RunOptions",
    "RunReport",
    "SourceError",
    "__version__",
    "load_config",
    "parse_config",
    "run",
]
