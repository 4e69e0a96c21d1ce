"""data_files.json: validation with JSON paths, defaults, relative paths, the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgingest.config import DEFAULT_BATCH_SIZE, config_json_schema, load_config, parse_config
from pgingest.errors import ConfigError
from pgingest.naming import TableName

MINIMAL = {"sources": [{"name": "events", "paths": ["data/*.csv"], "table": "events"}]}


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "data_files.json"
    path.write_text(json.dumps(MINIMAL))
    config = load_config(path)
    assert config.settings.batch_size == DEFAULT_BATCH_SIZE == 5000
    assert config.settings.retry.file.attempts == 3
    assert config.settings.retry.db.attempts == 5
    source = config.sources[0]
    assert source.mode == "append"
    assert source.csv.delimiter == "auto"  # sniffed from the file (parse/sniff.py)
    assert source.csv.quote == "auto"
    assert source.csv.null == [""]
    assert source.table_name == TableName("public", "events")
    assert config.resolve_pattern("data/*.csv") == str(tmp_path.resolve() / "data/*.csv")
    assert config.resolve_pattern("/abs/*.csv") == "/abs/*.csv"


def test_missing_field_names_its_json_path() -> None:
    data = {"sources": [MINIMAL["sources"][0], {"name": "b", "table": "b"}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert "sources[1].paths: field required" in str(caught.value)


def test_unknown_keys_are_errors() -> None:
    data = {"sources": [{**MINIMAL["sources"][0], "delimiter": ";"}], "setings": {}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert "sources[0].delimiter: extra inputs are not permitted" in message
    assert "setings: extra inputs are not permitted" in message


def test_nested_option_errors_name_their_path() -> None:
    data = {"sources": [{**MINIMAL["sources"][0], "csv": {"delimiter": ";;"}}]}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.csv\.delimiter: must be exactly one"):
        parse_config(data)


def test_upsert_needs_key() -> None:
    data = {"sources": [{**MINIMAL["sources"][0], "mode": "upsert"}]}
    with pytest.raises(ConfigError, match=r"sources\[0\]: .*needs \"key\""):
        parse_config(data)


def test_duplicate_source_names() -> None:
    data = {"sources": [MINIMAL["sources"][0], MINIMAL["sources"][0]]}
    with pytest.raises(ConfigError, match="two sources are named 'events'"):
        parse_config(data)


def test_bad_table_name() -> None:
    data = {"sources": [{**MINIMAL["sources"][0], "table": "a.b.c.d"}]}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.table: .*4 parts"):
        parse_config(data)


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "data_files.json"
    path.write_text('{\n  "sources": [\n    {"name": "x",}\n  ]\n}')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "not valid JSON" in str(caught.value)
    assert "line 3" in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.json")


def test_config_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "data_files.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_config(path)


def test_with_settings_overrides_only_given_values() -> None:
    config = parse_config(MINIMAL)
    changed = config.with_settings(workers=3, connections=None, batch_size=10)
    assert changed.settings.workers == 3
    assert changed.settings.connections is None
    assert changed.settings.batch_size == 10
    assert changed.base_dir == config.base_dir


def test_json_schema_describes_the_config() -> None:
    schema = config_json_schema()
    assert schema["title"] == "pgingest data_files.json"
    assert "sources" in schema["required"]
    source = schema["$defs"]["Source"]
    assert {"paths", "table", "format", "mode", "validate", "csv"} <= set(source["properties"])
    assert source["additionalProperties"] is False
