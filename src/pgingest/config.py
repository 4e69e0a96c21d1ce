"""The data_files.json config: pydantic models, defaults, loading and the JSON Schema.

Unknown keys are errors; every error names its JSON path (``sources[1].paths``).
Relative paths resolve against the folder of the config file.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from pgingest.errors import ConfigError
from pgingest.naming import TableName, parse_table_name

__all__ = [
    "AUTO",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONFIG_NAME",
    "Compression",
    "Config",
    "CsvOptions",
    "ExcelOptions",
    "FixedWidthColumn",
    "FixedWidthOptions",
    "JsonOptions",
    "Limits",
    "RetryPolicy",
    "RetrySettings",
    "Rule",
    "Settings",
    "Source",
    "config_json_schema",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_NAME = "data_files.json"
# csv.delimiter and csv.quote: told from the file itself (parse/sniff.py).
AUTO = "auto"

# 5000 rows keeps a batch of a wide table near a few MB: large enough that the
# per-batch round trip is noise next to COPY, small enough that a failed batch
# is cheap to replay and memory stays flat with many batches in flight.
DEFAULT_BATCH_SIZE = 5000

Format = Literal["csv", "tsv", "json", "ndjson", "parquet", "excel", "ipc", "orc", "fixed_width"]
# "none" reads the bytes as they are, whatever the name or the first bytes say.
Compression = Literal["gzip", "zstd", "bz2", "xz", "zip", "none"]
Mode = Literal["append", "upsert", "replace"]
OnChange = Literal["skip", "reload", "error"]
OrderBy = Literal["path", "modified"]
FingerprintPolicy = Literal["stat", "content"]
# A file fails when more than this share of its records are rejected (issue 17):
# prose read as CSV, or a file in another encoding, must not count as loaded.
DEFAULT_MAX_REJECT_RATIO = 0.05
RuleAction = Literal["reject", "fail", "warn"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CsvOptions(_Model):
    """How to read delimited text; the defaults are those of PostgreSQL's COPY (FORMAT csv)."""

    delimiter: str = Field(
        AUTO,
        description='One character between fields; "auto" (the default): sniffed from the '
        "first records among , ; TAB and | (TSV: TAB).",
    )
    header: bool = Field(True, description="The first line (after skip_rows) names the columns.")
    quote: str | None = Field(
        AUTO,
        description='Quote character; null turns quoting off; "auto" (the default): \'"\', or '
        "' when the file quotes with it.",
    )
    escape: str | None = Field(
        None, description="Escape character inside quotes; null means a doubled quote, as COPY."
    )
    null: list[str] = Field(
        default_factory=lambda: [""],
        description="Unquoted values read as NULL. A quoted value is never NULL, as in COPY.",
    )
    encoding: str = Field(
        "auto",
        description='Text encoding of the file, e.g. latin-1, utf-16; "auto" (the default): '
        "UTF-8 if it is, else detected.",
    )
    style: Literal["text", "csv"] | None = Field(
        None,
        description='"text": PostgreSQL\'s COPY text format (\\N is NULL, backslash escapes, '
        'no quoting), the default for TSV; "csv": quoted CSV, the default otherwise.',
    )
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header or data.")
    column_names: list[str] | None = Field(
        None, description="Column names in file order; needed when header is false."
    )

    @field_validator("delimiter", "quote")
    @classmethod
    def _single_character_or_auto(cls, value: str | None) -> str | None:
        if value is not None and value != AUTO and len(value) != 1:
            raise ValueError(f'must be exactly one character or "auto", got {value!r}')
        return value

    @field_validator("escape")
    @classmethod
    def _single_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be exactly one character, got {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _valid_encoding(cls, value: str) -> str:
        _known_encoding(value)
        return value

    def style_for(self, *, is_tsv: bool) -> Literal["text", "csv"]:
        """How fields are written: TSV is COPY's text format unless quote or escape is given."""
        if self.style is not None:
            return self.style
        given = self.model_fields_set - ({"quote"} if self.quote == AUTO else set())
        if is_tsv and not {"quote", "escape"} & given:
            return "text"
        return "csv"

    @model_validator(mode="after")
    def _names_without_header(self) -> CsvOptions:
        if not self.header and not self.column_names:
            raise ValueError("header is false, so column_names must list the columns in order")
        return self


def _known_encoding(value: str | None) -> str | None:
    if value is not None and value.lower() != "auto":
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
    return value


class ExcelOptions(_Model):
    """Which sheet of a spreadsheet (.xlsx, .xls, .xlsm, .xlsb, .ods) to read, and how."""

    sheet: str | int | None = Field(
        None, description="Sheet name, or 0-based position; default: the first sheet."
    )
    header: bool = Field(True, description="The first row (after skip_rows) names the columns.")
    skip_rows: int = Field(0, ge=0, description="Rows to skip before the header or data.")
    column_names: list[str] | None = Field(
        None, description="Column names in sheet order; needed when header is false."
    )

    @model_validator(mode="after")
    def _names_without_header(self) -> ExcelOptions:
        if not self.header and not self.column_names:
            raise ValueError("header is false, so column_names must list the columns in order")
        return self


class FixedWidthColumn(_Model):
    """One column of a fixed-width record: its name and where its characters are."""

    name: str = Field(min_length=1)
    start: int = Field(ge=1, description="Position of its first character, counting from 1.")
    width: int = Field(ge=1, description="How many characters it spans.")


class FixedWidthOptions(_Model):
    """Column positions of fixed-width text; values are stripped of surrounding spaces."""

    columns: list[FixedWidthColumn] = Field(min_length=1)
    skip_rows: int = Field(0, ge=0, description="Lines to skip first (a title, a header).")
    null: list[str] = Field(
        default_factory=lambda: [""], description="Values (after stripping) read as NULL."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> FixedWidthOptions:
        names = [c.name for c in self.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"columns named twice: {', '.join(twice)}")
        return self


class JsonOptions(_Model):
    """How nested JSON objects load: flattened into columns, or kept whole as jsonb."""

    flatten: bool = Field(
        False, description='Nested objects become columns named like "address.city".'
    )
    separator: str = Field(".", min_length=1, description="Joins the keys of flattened names.")


class RetryPolicy(_Model):
    """Exponential backoff with jitter for one kind of work."""

    attempts: int = Field(3, ge=1, description="Tries in all, the first included.")
    initial_delay: float = Field(0.5, ge=0, description="Seconds before the first retry.")
    multiplier: float = Field(2.0, ge=1, description="Each wait is this many times the last.")
    max_delay: float = Field(30.0, ge=0, description="No single wait is longer (seconds).")
    deadline: float | None = Field(
        None, gt=0, description="Give up once this many seconds have passed since the first try."
    )


class RetrySettings(_Model):
    """Separate retry policies for file work (open, read, fetch) and database work."""

    file: RetryPolicy = Field(default_factory=lambda: RetryPolicy(attempts=3))
    db: RetryPolicy = Field(default_factory=lambda: RetryPolicy(attempts=5))


class Limits(_Model):
    """Bounds on what one input may cost in memory, disk and time; each checked before spending.

    A file past a limit fails with a message naming the limit (exit 1); the rest
    of the run goes on. Raise a limit for a trusted input that needs more.
    """

    max_json_depth: int = Field(
        512,
        ge=1,
        description="Nesting of JSON arrays and objects. Python's parser gives up near 1,000 "
        "levels and some parsers spend memory quadratic in the depth; real data nests a few "
        "dozen levels.",
    )
    max_record_bytes: int = Field(
        64 << 20,
        ge=1024,
        description="Bytes of one JSON record (an NDJSON line, an element of a JSON array, a "
        "file that is one JSON object), held whole while parsed: Python's objects take 5-10 "
        "times its size. CSV rows are bounded by the CSV reader's block.",
    )
    max_compression_ratio: float = Field(
        200.0,
        ge=1,
        description="Decompressed bytes per compressed byte, checked once a file or zip member "
        "has given 16 MiB: real data compresses 3-20 times, a compression bomb 1,000 or more.",
    )
    max_decompressed_bytes: int | None = Field(
        64 << 30,
        ge=1,
        description="Bytes one compressed file or zip member may expand to; zip members and "
        "compressed Parquet or spreadsheets are written to the temporary folder. null: no limit.",
    )
    max_columns: int = Field(
        1600,
        ge=1,
        description="Fields in the first line of a CSV or TSV file, counted before it is parsed: "
        "PostgreSQL's own limit on a table's columns; the CSV reader sets up every column "
        "(20,000 took 600 MB).",
    )
    max_zip_members: int = Field(
        10_000,
        ge=1,
        description="Files in one zip archive; each becomes a unit with its own manifest row.",
    )
    max_sheet_cells: int = Field(
        10_000_000,
        ge=1,
        description="Rows times columns of a spreadsheet's used range, read from the sheet "
        "before it is loaded: the spreadsheet reader holds a whole sheet in memory.",
    )


class Settings(_Model):
    """Run-wide settings; the command line overrides them."""

    workers: int | None = Field(None, ge=1, description="Parse workers; default: CPU count.")
    connections: int | None = Field(
        None, ge=1, description="Database connections; default: CPU count."
    )
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, description="Rows per COPY batch.")
    chunk_bytes: int = Field(
        64 << 20,
        ge=4096,
        description="A CSV file this large or 1.5 times larger loads as chunks of about this "
        "many bytes, in parallel; each chunk is a unit of its own.",
    )
    max_rejects: int | None = Field(
        None, ge=0, description="Rejected rows a file may have before it fails; null: no limit."
    )
    max_reject_ratio: float | None = Field(
        DEFAULT_MAX_REJECT_RATIO,
        ge=0,
        le=1,
        description="A file fails when more than this share of its records are rejected "
        "(and always when all of them are); null: no limit.",
    )
    retry: RetrySettings = Field(default_factory=RetrySettings)
    limits: Limits = Field(default_factory=Limits)
    executor: Literal["local", "dask"] = Field(
        "local", description="Where units run: threads here, or tasks on a Dask cluster."
    )
    scheduler: str | None = Field(
        None, description="The Dask scheduler's address (tcp://host:port) for executor dask."
    )

    @model_validator(mode="after")
    def _dask_needs_scheduler(self) -> Settings:
        if self.executor == "dask" and not self.scheduler:
            raise ValueError('executor "dask" needs "scheduler": the address tcp://host:port')
        return self


class Rule(_Model):
    """A data-quality rule on one column (or, with ``sql``, on a whole row)."""

    column: str | None = None
    not_null: bool = False
    unique: bool = False
    min: Decimal | str | None = None
    max: Decimal | str | None = None
    allowed: list[Any] | None = Field(None, alias="in")
    regex: str | None = None
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=0)
    sql: str | None = None
    action: RuleAction = "reject"

    @model_validator(mode="after")
    def _has_a_check(self) -> Rule:
        checks = [
            self.not_null,
            self.unique,
            self.min is not None,
            self.max is not None,
            self.allowed is not None,
            self.regex is not None,
            self.min_length is not None,
            self.max_length is not None,
            self.sql is not None,
        ]
        if not any(checks):
            raise ValueError(
                "a rule needs a check: not_null, unique, min, max, in, regex, "
                "min_length, max_length or sql"
            )
        if self.sql is None and self.column is None:
            raise ValueError("a rule needs a column (only an sql rule may omit it)")
        return self


class Source(_Model):
    """A group of files loaded into one table."""

    name: str = Field(min_length=1)
    paths: list[str] = Field(min_length=1, description="Glob patterns: *, **, ?, [...].")
    table: str = Field(min_length=1, description="Target table, optionally schema-qualified.")
    format: Format | None = Field(None, description="Inferred from the extension when absent.")
    mode: Mode = "append"
    key: list[str] | None = Field(None, description="Key columns; needed by upsert.")
    create: bool = Field(False, description="Create the table from the files when missing.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="SQL types for created columns, overriding inference."
    )
    ignore_extra_columns: bool = Field(
        False, description="Drop file columns that the table lacks instead of failing."
    )
    rename: dict[str, str] = Field(
        default_factory=dict,
        description="File column → table column, applied before matching (and create).",
    )
    on_change: OnChange | None = Field(
        None, description="A loaded file whose content changed: skip, reload or error."
    )
    evolve: Literal["none", "add_columns"] = Field(
        "none", description="add_columns: file columns the table lacks are added to it."
    )
    file_column: str | None = Field(
        None,
        description="A text column that pgingest fills with each row's file path "
        "(lineage); lets on_change: reload replace a file's earlier rows.",
    )
    rescued_column: str | None = Field(
        None,
        min_length=1,
        description="A jsonb column that keeps, per row, the file fields the table lacks and "
        'the values that fail conversion ({"field": "raw text"}), so the row still loads '
        "with NULL in the failed column. It must exist as jsonb, or create: true adds it.",
    )
    csv: CsvOptions = Field(default_factory=CsvOptions)
    excel: ExcelOptions = Field(default_factory=ExcelOptions)
    fixed_width: FixedWidthOptions | None = Field(
        None, description='Column positions; needed by format "fixed_width".'
    )
    # "json" would shadow a (deprecated) pydantic method, so the attribute has another name.
    json_options: JsonOptions = Field(default_factory=JsonOptions, alias="json")
    encoding: str | None = Field(
        None,
        description="Text encoding of csv, tsv, json and fixed-width files (wins over "
        'csv.encoding); default "auto": a byte-order mark\'s, UTF-8 if the file is, '
        "else detected (and reported).",
    )
    compression: Compression | None = Field(
        None, description="Compression of every file; default: from the name, else the content."
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options for remote paths (s3://, gs://, https://), passed to fsspec; "
        "credentials otherwise come from the usual environment variables and files.",
    )
    rules: list[Rule] = Field(default_factory=list, alias="validate")
    min_rows: int | None = Field(None, ge=0)
    max_rows: int | None = Field(None, ge=0)
    order_by: OrderBy = Field(
        "path",
        description="The order upsert and replace apply files in (the last one wins): "
        "path (sorted) or modified (oldest first, then path).",
    )
    fingerprint: FingerprintPolicy = Field(
        "stat",
        description="stat: a file with the size and modification time of its load is not "
        "hashed again; content: every file is hashed on every run.",
    )
    max_reject_ratio: float | None = Field(
        None, ge=0, le=1, description="Overrides settings.max_reject_ratio for this source."
    )

    # The run's settings.limits, given to each source by Config (readers see only the source).
    _limits: Limits = PrivateAttr(default_factory=Limits)

    @field_validator("paths")
    @classmethod
    def _non_empty_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.strip():
                raise ValueError("a path pattern is empty")
        return value

    @field_validator("table")
    @classmethod
    def _valid_table(cls, value: str) -> str:
        parse_table_name(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _valid_encoding(cls, value: str | None) -> str | None:
        return _known_encoding(value)

    @model_validator(mode="after")
    def _renames_are_distinct(self) -> Source:
        targets = list(self.rename.values())
        twice = sorted({t for t in targets if targets.count(t) > 1 or not t})
        if twice:
            raise ValueError(f"rename gives several file columns (or none) the name {twice[0]!r}")
        return self

    @model_validator(mode="after")
    def _fixed_width_needs_columns(self) -> Source:
        if self.format == "fixed_width" and self.fixed_width is None:
            raise ValueError('format "fixed_width" needs "fixed_width": {"columns": [...]}')
        return self

    @model_validator(mode="after")
    def _mode_needs_key(self) -> Source:
        if self.mode == "upsert" and not self.key:
            raise ValueError('mode "upsert" needs "key": the columns that identify a row')
        if self.on_change == "reload" and self.mode == "append" and not self.file_column:
            raise ValueError(
                'on_change "reload" in append mode needs "file_column": a column where '
                "pgingest records each row's file, so the file's earlier rows can be replaced"
            )
        return self

    @model_validator(mode="after")
    def _rescued_column_is_its_own(self) -> Source:
        name = self.rescued_column
        if name is None:
            return self
        if self.ignore_extra_columns:
            raise ValueError(
                '"rescued_column" keeps the fields the table lacks and "ignore_extra_columns" '
                "drops them: set only one of them"
            )
        if name == self.file_column:
            raise ValueError(
                f'"rescued_column" and "file_column" are both {name!r}: use two columns'
            )
        if name in (self.key or []) or name in self.rename.values():
            raise ValueError(
                f"rescued_column {name!r} is also a key or a rename target: pgingest fills it "
                "itself, so it must be a column of its own"
            )
        declared = self.columns.get(name)
        if declared is not None and declared.strip().lower() != "jsonb":
            raise ValueError(
                f'rescued_column {name!r} is declared {declared!r} in "columns"; it must be jsonb'
            )
        return self

    @property
    def limits(self) -> Limits:
        """The bounds on what one of this source's files may cost (settings.limits)."""
        return self._limits

    @property
    def table_name(self) -> TableName:
        """The target table, parsed like PostgreSQL would (unquoted parts fold to lower case)."""
        return parse_table_name(self.table)

    @property
    def change_policy(self) -> OnChange:
        """What to do with a loaded file whose content changed (default: error)."""
        return self.on_change or "error"


class Config(_Model):
    """A whole data_files.json."""

    database_url: str | None = Field(
        None,
        description="postgresql:// URL; DATABASE_URL and --database-url win over it.",
        repr=False,  # it may hold a password
    )
    settings: Settings = Field(default_factory=Settings)
    sources: list[Source] = Field(min_length=1)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _file: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}; names must be unique")
            seen.add(source.name)
        return self

    @model_validator(mode="after")
    def _sources_know_limits(self) -> Config:
        for source in self.sources:
            source._limits = self.settings.limits
        return self

    @property
    def base_dir(self) -> Path:
        """The folder relative paths resolve against (the config file's folder)."""
        return self._base_dir

    @property
    def file(self) -> Path | None:
        """The config file this came from, if any."""
        return self._file

    def with_settings(self, **changes: Any) -> Config:
        """A copy with the given settings replaced (None values are ignored)."""
        updates = {key: value for key, value in changes.items() if value is not None}
        if not updates:
            return self
        settings = self.settings.model_copy(update=updates)
        copy = self.model_copy(update={"settings": settings})
        copy._base_dir = self._base_dir
        copy._file = self._file
        return copy

    def with_retry(
        self,
        *,
        file_attempts: int | None = None,
        db_attempts: int | None = None,
        deadline: float | None = None,
    ) -> Config:
        """A copy with retry attempts (and an overall deadline for both kinds) replaced."""
        retry = self.settings.retry
        file_changes: dict[str, Any] = {"attempts": file_attempts} if file_attempts else {}
        db_changes: dict[str, Any] = {"attempts": db_attempts} if db_attempts else {}
        if deadline is not None:
            file_changes["deadline"] = db_changes["deadline"] = deadline
        retry = retry.model_copy(
            update={
                "file": retry.file.model_copy(update=file_changes),
                "db": retry.db.model_copy(update=db_changes),
            }
        )
        return self.with_settings(retry=retry)

    def resolve_pattern(self, pattern: str) -> str:
        """A path pattern made absolute against the config's folder (URLs stay as they are)."""
        if "://" in pattern:
            return pattern
        expanded = os.path.expanduser(pattern)
        if os.path.isabs(expanded):
            return expanded
        return str(self._base_dir / expanded)


def format_location(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a JSON path: ("sources", 1, "paths") → sources[1].paths."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe_validation(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = format_location(tuple(p for p in item["loc"] if p not in _UNION_TAGS))
        message = item["msg"]
        message = message.removeprefix("Value error, ")
        message = message[0].lower() + message[1:] if message else message
        if item["type"] == "extra_forbidden":
            message += _did_you_mean(item["loc"])
        problems.append(f"{location}: {message}")
    return "; ".join(problems)


# How close an unknown key must be to a valid one to be suggested (difflib's ratio).
SUGGESTION_CUTOFF = 0.6


def _did_you_mean(location: tuple[int | str, ...]) -> str:
    """`` (did you mean `workers`?)`` for an unknown key close to a valid one, else ''."""
    model: type[BaseModel] | None = Config
    for part in location[:-1]:
        if model is None:
            return ""
        if isinstance(part, str):
            field = model.model_fields.get(part) or next(
                (f for f in model.model_fields.values() if f.alias == part), None
            )
            model = _model_in(field.annotation) if field is not None else None
    if model is None or not isinstance(location[-1], str):
        return ""
    keys = [field.alias or name for name, field in model.model_fields.items()]
    close = difflib.get_close_matches(location[-1], keys, n=1, cutoff=SUGGESTION_CUTOFF)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The config model inside a field's type (``list[Source]`` → Source), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


# pydantic names the branch of a union or a typed wrapper in error locations;
# users never wrote those keys, so they are dropped from the JSON path.
_UNION_TAGS = {
    "decimal",
    "str",
    "function-after[_single_character(), str]",
    "function-after[_single_character_or_auto(), str]",
}


def parse_config(
    data: Mapping[str, Any], *, base_dir: Path | None = None, file: Path | None = None
) -> Config:
    """Validate an already-decoded config mapping; errors name their JSON path."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid config: {_describe_validation(exc)}",
            hint="see `pgingest schema` for every key",
            file=str(file) if file else None,
        ) from None
    config._base_dir = (base_dir or Path.cwd()).resolve()
    config._file = file
    return config


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG_NAME) -> Config:
    """Read and validate a data_files.json; relative paths resolve against its folder."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file not found: {file}",
            hint="pass the path to data_files.json, or run pgingest from its folder",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"config path is a folder, not a file: {file}",
            hint=f"pass {file / DEFAULT_CONFIG_NAME} instead",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            file=str(file),
        ) from None
    if not isinstance(data, dict):
        raise ConfigError('config must be a JSON object with a "sources" list', file=str(file))
    return parse_config(data, base_dir=file.resolve().parent, file=file)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of data_files.json, as editors and validators read it."""
    schema = Config.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pgingest data_files.json"
    return schema
