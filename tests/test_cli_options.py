"""pgingest run's options are declared once, as RunCommandOptions, and reach the command whole."""

from __future__ import annotations

import dataclasses
from typing import Any

import typer.main
from typer.testing import CliRunner

from pgingest.cli import RunCommandOptions, app
from pgingest.cli_shared import options_command


def _run_params() -> list[Any]:
    command: Any = typer.main.get_command(app)
    return [p for p in command.commands["run"].params if p.name != "help"]


def test_each_field_is_one_parameter_in_field_order_with_its_default() -> None:
    fields = dataclasses.fields(RunCommandOptions)
    params = _run_params()
    assert [p.name for p in params] == [f.name for f in fields]
    for field, param in zip(fields, params, strict=True):
        assert param.default == field.default, field.name


def test_the_command_receives_one_options_object() -> None:
    @dataclasses.dataclass(frozen=True)
    class Options:
        name: str = "world"
        count: int = 1

    received: list[Options] = []
    demo = typer.Typer()
    demo.command("hello")(options_command(Options)(received.append))
    demo.command("other")(lambda: None)  # two commands: "hello" stays a subcommand

    result = CliRunner().invoke(demo, ["hello", "--name", "pgingest", "--count", "3"])
    assert result.exit_code == 0, result.output
    assert received == [Options(name="pgingest", count=3)]
