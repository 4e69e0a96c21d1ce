"""The command starts light: --version and --help import none of the data stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pyarrow", "numpy", "dask", "prometheus_client", "fsspec", "psycopg", "pgpq")


def _loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded once ``code`` ends (or exits)."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {HEAVY!r} if m in sys.modules])))\n"
        + code
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    )
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_none_of_the_data_stack() -> None:
    assert _loaded_after("import pgingest.cli") == []


@pytest.mark.parametrize("argument", ["--version", "--help"])
def test_version_and_help_load_none_of_the_data_stack(argument: str) -> None:
    code = f"sys.argv = ['pgingest', {argument!r}]\nfrom pgingest.__main__ import main\nmain()"
    assert _loaded_after(code) == []


def test_names_spelled_twice_for_a_light_start_agree() -> None:
    from pgingest import cli, cli_shared, config, log_setup
    from pgingest.report import logs, prometheus

    assert str(cli_shared.DEFAULT_CONFIG) == config.DEFAULT_CONFIG_NAME
    assert log_setup.PROGRESS_LOGGER == logs.PROGRESS_LOGGER
    assert cli.DEFAULT_METRICS_ADDRESS == prometheus.DEFAULT_METRICS_ADDRESS
