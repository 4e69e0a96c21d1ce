"""pgingest: load many CSV, JSON and Parquet files into PostgreSQL, fast and exactly once.

Library use mirrors the command line::

    import pgingest

    config = pgingest.load_config("data_files.json")
    report = pgingest.run(config)
    print(report.records_inserted, report.failed_files)

The public API is ``pgingest.__all__`` and nothing else: use each name as
``pgingest.<name>`` (``pgingest.run``, ``pgingest.ParseError``). Every submodule
(``pgingest.config``, ``pgingest.pipeline``, ``pgingest.load``, ...) is internal
and may change in any release, even the names a submodule lists in its own
``__all__`` (that list is what it offers the rest of pgingest). A test keeps
``__all__`` complete and the package free of other public names.

The public names are imported on first use, so ``import pgingest`` stays light
and the command line can tune the process before Arrow loads.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
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
    from pgingest.summary import FailedFile, RunReport

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "pgingest.config",
    "load_config": "pgingest.config",
    "parse_config": "pgingest.config",
    "ConfigError": "pgingest.errors",
    "ConnectError": "pgingest.errors",
    "LoadError": "pgingest.errors",
    "ParseError": "pgingest.errors",
    "PgIngestError": "pgingest.errors",
    "SourceError": "pgingest.errors",
    "RunOptions": "pgingest.pipeline",
    "run": "pgingest.pipeline",
    "Metrics": "pgingest.report.metrics",
    "NullReporter": "pgingest.report.reporter",
    "Reporter": "pgingest.report.reporter",
    "FailedFile": "pgingest.summary",
    "RunReport": "pgingest.summary",
}

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


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pgingest' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # What is reachable, loaded or not: the test compares it with __all__.
    return sorted(set(globals()) | set(_EXPORTS))
