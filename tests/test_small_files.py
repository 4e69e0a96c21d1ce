"""Many small files: several to a transaction, yet each file with its own manifest row,
figures, rejects, events and failure; a bad file never costs its neighbours their rows."""

from __future__ import annotations

import importlib
import pickle
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.load.catalog import Table
from pgingest.pipeline import RunOptions, run
from pgingest.pipeline.unit import AppendGroup, Unit, group_small_files
from pgingest.report.metrics import Metrics
from pgingest.report.reporter import NullReporter
from pgingest.store.manifest import Decision
from pgingest.summary import RunReport

group_module = importlib.import_module("pgingest.pipeline.unit.group")
together_module = importlib.import_module("pgingest.pipeline.unit.together")

ROWS = 40  # per file


def _write(folder: Path, count: int, *, rows: int = ROWS) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        start = index * rows
        lines = "".join(f"{i},label {i}\n" for i in range(start, start + rows))
        (folder / f"f-{index:04d}.csv").write_text("id,label\n" + lines)
    return count * rows


class _Events(NullReporter):
    """Records the per-file events a run sends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished: dict[str, int] = {}
        self.failed: list[str] = []
        self.restarted: Counter[str] = Counter()

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        with self.lock:
            assert file.path not in self.finished, f"{file.path} finished twice"
            self.finished[file.path] = rows

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        with self.lock:
            self.failed.append(file.path if file else "")

    def unit_restarted(self, file: SourceFile, *, reason: str) -> None:
        with self.lock:
            self.restarted[file.path] += 1


def _run(
    database_url: str,
    tmp_path: Path,
    *,
    source: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    metrics: Metrics | None = None,
    reporter: _Events | None = None,
) -> RunReport:
    data = {
        "settings": {"workers": 2, "connections": 2, **(settings or {})},
        "sources": [{"name": "s", "paths": ["data/*.csv"], "table": "t", **(source or {})}],
    }
    config = parse_config(data, base_dir=tmp_path)
    options = RunOptions(database_url=database_url, metrics=metrics, reporter=reporter)
    return run(config, options)


def _manifest(db: psycopg.Connection[Any]) -> dict[str, int]:
    rows = db.execute(
        "SELECT path, rows FROM pgingest.files WHERE status = 'loaded' ORDER BY path"
    ).fetchall()
    assert len(rows) == len({path for path, _ in rows}), "a file has two loaded rows"
    return {Path(path).name: count for path, count in rows}


def test_small_files_land_in_groups_each_with_its_own_manifest_row(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write(tmp_path / "data", 120)
    metrics, events = Metrics(), _Events()
    report = _run(database_url, tmp_path, metrics=metrics, reporter=events)
    assert report.failed_files == []
    assert (report.files_succeeded, report.records_inserted) == (120, expected)
    assert metrics.snapshot().count("groups.landed") >= 1
    assert metrics.snapshot().count("groups.split") == 0
    assert max(_files_per_transaction(db)) > 1
    assert _manifest(db) == {f"f-{i:04d}.csv": ROWS for i in range(120)}
    assert len(events.finished) == 120
    assert set(events.finished.values()) == {ROWS}
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (
        expected,
        expected,
    )
    again = _run(database_url, tmp_path)
    assert (again.files_skipped, again.records_inserted) == (120, 0)


def test_a_bad_value_in_one_file_sets_its_row_aside_and_its_neighbours_load(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write(tmp_path / "data", 30)
    bad = tmp_path / "data" / "f-0007.csv"
    lines = bad.read_text().splitlines()
    lines[5] = "not-a-number,oops"  # line 6 of the file
    bad.write_text("\n".join(lines) + "\n")
    metrics, events = Metrics(), _Events()
    report = _run(
        database_url, tmp_path, metrics=metrics, reporter=events, settings={"max_rejects": 10}
    )
    assert report.failed_files == []
    assert report.files_succeeded == 30
    assert report.records_inserted == expected - 1
    assert report.records_rejected == 1
    assert metrics.snapshot().count("groups.split") >= 1
    assert events.restarted[str(bad)] >= 1
    rejects = db.execute("SELECT source, line, value FROM pgingest.rejects").fetchall()
    assert rejects == [(str(bad), 6, "not-a-number")]
    manifest = _manifest(db)
    assert manifest["f-0007.csv"] == ROWS - 1
    assert sum(manifest.values()) == expected - 1
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (
        expected - 1,
        expected - 1,
    )


def test_a_file_that_fails_inside_a_group_fails_alone(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint NOT NULL, label text)")
    expected = _write(tmp_path / "data", 30)
    broken = tmp_path / "data" / "f-0012.csv"
    broken.write_text("id,label\n" + "".join(f",x{i}\n" for i in range(ROWS)))  # all NULL ids
    events = _Events()
    report = _run(database_url, tmp_path, reporter=events, settings={"max_rejects": 0})
    assert [Path(f.path).name for f in report.failed_files] == ["f-0012.csv"]
    assert report.files_succeeded == 29
    assert report.records_inserted == expected - ROWS
    assert events.failed == [str(broken)]
    assert len(events.finished) == 29
    manifest = _manifest(db)
    assert "f-0012.csv" not in manifest
    assert len(manifest) == 29
    failed = db.execute("SELECT path FROM pgingest.files WHERE status = 'failed'").fetchall()
    assert failed == [(str(broken),)]
    assert db.execute("SELECT count(*) FROM t").fetchone() == (expected - ROWS,)


def test_a_file_another_run_loaded_meanwhile_is_skipped_and_the_group_lands(
    db: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The group's manifest INSERT meets another run's row: the files then go one by one."""
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write(tmp_path / "data", 20)
    record = group_module.record_loaded_many
    raced: list[str] = []

    def another_run_first(conn: psycopg.Connection[Any], records: Any, **kwargs: Any) -> None:
        if not raced:
            first = records[0]
            raced.append(first.decision.file.path)
            with psycopg.connect(database_url, autocommit=True) as other:
                start = _first_id(first.decision.file.path)
                other.execute(
                    "INSERT INTO t SELECT g, 'label ' || g "
                    "FROM generate_series(%s::bigint, %s::bigint) g",
                    (start, start + ROWS - 1),
                )
                group_module.record_loaded_many(other, [first], run_id=kwargs["run_id"])
        record(conn, records, **kwargs)

    monkeypatch.setattr(group_module, "record_loaded_many", another_run_first)
    report = _run(database_url, tmp_path, settings={"workers": 1})
    assert raced
    assert report.failed_files == []
    assert report.files_skipped == 1
    assert report.records_inserted == expected - ROWS
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (
        expected,
        expected,
    )


def _first_id(path: str) -> int:
    return int(Path(path).stem.split("-")[1]) * ROWS


def test_rows_a_trigger_turns_away_are_counted_per_file(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """A BEFORE trigger's count is known per statement: the group goes file by file."""
    db.execute("CREATE TABLE t (id bigint, label text)")
    db.execute(
        "CREATE FUNCTION drop_sevens() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.id % 7 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$"
    )
    db.execute(
        "CREATE TRIGGER t_drop BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION drop_sevens()"
    )
    expected = _write(tmp_path / "data", 12)
    report = _run(database_url, tmp_path)
    assert report.failed_files == []
    kept = sum(1 for i in range(expected) if i % 7)
    assert report.records_inserted == kept
    assert db.execute("SELECT count(*) FROM t").fetchone() == (kept,)
    manifest = _manifest(db)
    assert manifest["f-0000.csv"] == sum(1 for i in range(ROWS) if i % 7)


def test_other_modes_and_large_files_are_not_grouped(tmp_path: Path) -> None:
    data = {
        "sources": [
            {"name": "a", "paths": ["a/*.csv"], "table": "a"},
            {"name": "u", "paths": ["u/*.csv"], "table": "u", "mode": "upsert", "key": ["id"]},
        ]
    }
    config = parse_config(data, base_dir=tmp_path)
    small = _units(config.sources[0], 10, size=1000)
    big = _units(config.sources[0], 2, size=group_module.SMALL_FILE_BYTES + 1, prefix="big")
    upsert = _units(config.sources[1], 3, size=1000)
    jobs = group_small_files([*small, *big, *upsert])
    groups = [j for j in jobs if isinstance(j, AppendGroup)]
    alone = [j for j in jobs if not isinstance(j, AppendGroup)]
    assert sorted(u.file.path for g in groups for u in g.units) == sorted(
        u.file.path for u in small
    )
    assert sorted(u.file.path for u in alone) == sorted(u.file.path for u in big + upsert)
    assert all(len(g.units) >= 2 for g in groups)
    # A group is a job that travels to a Dask worker.
    assert pickle.loads(pickle.dumps(groups[0])) == groups[0]


def test_groups_respect_their_bounds(tmp_path: Path) -> None:
    config = parse_config(
        {"sources": [{"name": "a", "paths": ["a/*.csv"], "table": "a"}]}, base_dir=tmp_path
    )
    many = _units(config.sources[0], 1000, size=100)
    groups = group_small_files(many)
    assert all(len(g.units) <= group_module.GROUP_FILES for g in groups)
    assert [u for g in groups for u in g.units] == many  # every file once, in order
    heavy = _units(config.sources[0], 40, size=group_module.SMALL_FILE_BYTES)
    assert all(g.size <= group_module.GROUP_BYTES for g in group_small_files(heavy))
    few = _units(config.sources[0], 64, size=100)
    assert len(group_small_files(few)) == group_module.PARALLEL_GROUPS  # spread over workers


def test_a_group_commits_when_its_row_bound_is_reached(
    db: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write(tmp_path / "data", 24)
    monkeypatch.setattr(group_module, "GROUP_ROWS", 3 * ROWS)
    report = _run(database_url, tmp_path, settings={"workers": 1})
    assert report.records_inserted == expected
    assert max(_files_per_transaction(db)) == 3


def _files_per_transaction(db: psycopg.Connection[Any]) -> list[int]:
    """How many manifest rows each transaction wrote (rows of one transaction share xmin)."""
    rows = db.execute("SELECT count(*) FROM pgingest.files GROUP BY xmin::text").fetchall()
    return [count for (count,) in rows]


def _units(source: Any, count: int, *, size: int, prefix: str = "f") -> list[Unit]:
    table = Table(source.table_name, 0, ())
    units = []
    for index in range(count):
        file = SourceFile(
            path=f"/data/{prefix}-{index:04d}.csv",
            size=size,
            modified_ns=0,
            source=source.name,
            format="csv",
            compression=None,
        )
        units.append(Unit(file, source, table, Decision(file, "load", "sha256:x")))
    return units


def test_groups_run_as_dask_tasks(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """A group travels to a Dask worker like a unit; its files' results come back one by one."""
    distributed = pytest.importorskip("distributed")
    from pgingest.executor.dask import DaskExecutor

    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write(tmp_path / "data", 40)
    events = _Events()
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # None still serves on 8787, which may be taken
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster.scheduler_address, set_as_default=False) as client,
    ):
        config = parse_config(
            {"sources": [{"name": "s", "paths": ["data/*.csv"], "table": "t"}]},
            base_dir=tmp_path,
        )
        options = RunOptions(
            database_url=database_url, executor=DaskExecutor(client), reporter=events
        )
        report = run(config, options)
    assert report.failed_files == []
    assert (report.files_succeeded, report.records_inserted) == (40, expected)
    assert len(events.finished) == 40
    assert _manifest(db) == {f"f-{i:04d}.csv": ROWS for i in range(40)}
    assert max(_files_per_transaction(db)) > 1


def test_each_row_names_its_own_file_and_columns_may_come_in_any_order(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """Files of one group share a COPY: each row still carries its own file's path, and a
    file whose columns come in another order lands just as well."""
    db.execute("CREATE TABLE t (id bigint, label text, src text)")
    expected = _write(tmp_path / "data", 20)
    swapped = tmp_path / "data" / "f-0009.csv"
    rows = [line.split(",") for line in swapped.read_text().splitlines()[1:]]
    swapped.write_text("label,id\n" + "".join(f"{label},{i}\n" for i, label in rows))
    report = _run(database_url, tmp_path, source={"file_column": "src"})
    assert report.failed_files == []
    assert report.records_inserted == expected
    wrong = db.execute(
        "SELECT count(*) FROM t WHERE src <> %s || '/data/f-' || lpad((id / %s)::text, 4, '0')"
        " || '.csv' OR label <> 'label ' || id",
        (str(tmp_path), ROWS),
    ).fetchone()
    assert wrong == (0,)
    assert max(_files_per_transaction(db)) > 1


def test_a_groups_files_are_converted_together_each_row_counted_for_its_own_file(
    db: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Consecutive files of a group share one conversion per batch_size rows (its cost is
    mostly per call); a file whose columns differ starts a conversion of its own."""
    db.execute("CREATE TABLE t (id bigint, label text, note text)")
    expected = _write(tmp_path / "data", 60)
    wide = tmp_path / "data" / "f-0031.csv"  # a note column: its batches convert apart
    lines = wide.read_text().splitlines()[1:]
    wide.write_text(
        "id,label,note\n" + "".join(f"{line},n{line.split(',')[0]}\n" for line in lines)
    )
    calls: list[int] = []
    convert = together_module.convert_batch

    def counted(batch: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(batch.num_rows)
        return convert(batch, *args, **kwargs)

    monkeypatch.setattr(together_module, "convert_batch", counted)
    report = _run(database_url, tmp_path, settings={"batch_size": 200})
    assert report.failed_files == []
    assert report.records_inserted == expected
    assert sum(calls) == expected
    assert len(calls) < 60 / 2, calls  # 5 files of 40 rows per call of 200 rows
    assert max(calls) <= 200 + ROWS
    assert _manifest(db) == {f"f-{i:04d}.csv": ROWS for i in range(60)}
    assert db.execute("SELECT count(*) FROM t WHERE note IS NOT NULL").fetchone() == (ROWS,)
    assert db.execute(
        "SELECT count(*) FROM t WHERE note <> 'n' || id OR label <> 'label ' || id"
    ).fetchone() == (0,)


def test_values_the_server_reads_convert_together_across_a_groups_files(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """Odd spellings (read by the server's input function between COPY statements) in
    files converted together land as COPY reads them, each row for its own file."""
    db.execute("CREATE TABLE t (id bigint, at timestamptz, amount numeric(8,2))")
    folder = tmp_path / "data"
    folder.mkdir()
    spellings = ["May 5 2024 18:20", "2024-05-05 18:20:24+02", "05/06/2024", "epoch"]
    for index in range(24):
        lines = "".join(
            f"{index * 10 + row},{spellings[(index + row) % 4]},{row}.5e0\n" for row in range(10)
        )
        (folder / f"f-{index:04d}.csv").write_text("id,at,amount\n" + lines)
    report = _run(database_url, tmp_path)
    assert report.failed_files == []
    assert report.records_inserted == 240
    db.execute("CREATE TEMP TABLE expected (id bigint, at_text text, amount_text text)")
    with db.cursor().copy("COPY expected FROM STDIN (FORMAT csv)") as copy:
        for path in sorted(folder.iterdir()):
            copy.write(path.read_text().split("\n", 1)[1])
    differ = db.execute(
        "SELECT count(*) FROM t JOIN expected e USING (id)"
        " WHERE t.at IS DISTINCT FROM e.at_text::timestamptz"
        " OR t.amount IS DISTINCT FROM e.amount_text::numeric(8,2)"
    ).fetchone()
    assert differ == (0,)
    assert max(_files_per_transaction(db)) > 1
