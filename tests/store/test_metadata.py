import multiprocessing as mp
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from limelight.core.errors import ConfigError, SchemaVersionError
from limelight.store import MetadataStore
from limelight.store.schema import SCHEMA_HEAD, metrics, runs


def insert_run(store: MetadataStore, flow: str = "F") -> int:
    def work(conn: sa.Connection) -> int:
        result = conn.execute(
            runs.insert().values(flow=flow, kind="flow", status="running", created_at=time.time())
        )
        return int(result.inserted_primary_key[0])

    return store.transaction(work)


def test_first_write_creates_the_schema_at_head(db_url: str) -> None:
    store = MetadataStore(db_url)
    run_id = insert_run(store)
    assert store.schema_revision() == SCHEMA_HEAD
    with store.connect() as conn:
        assert conn.execute(sa.select(runs.c.flow).where(runs.c.id == run_id)).scalar() == "F"
    store.dispose()


def test_schema_head_matches_the_migrations() -> None:
    from importlib.resources import files

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(files("limelight.store") / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_migrations_build_the_schema_the_code_declares(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from limelight.store.schema import metadata

    store = MetadataStore(db_url)
    insert_run(store)
    with store.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], "schema.py changed without a migration"
    store.dispose()


def test_reading_a_store_that_does_not_exist_writes_nothing(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'home' / 'limelight.db'}")
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 0
    assert not (tmp_path / "home").exists()


def test_older_database_is_upgraded_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a database from before the first migration: empty
        conn.execute(sa.text("CREATE TABLE unrelated (x INTEGER)"))
    engine.dispose()
    store = MetadataStore(url)
    insert_run(store)
    assert store.schema_revision() == SCHEMA_HEAD
    store.dispose()


def test_newer_database_is_refused_with_how_to_fix(db_url: str) -> None:
    store = MetadataStore(db_url)
    insert_run(store)
    with store.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.dispose()
    with pytest.raises(
        SchemaVersionError, match=r"revision '9999'.*newer Limelight.*pip install -U"
    ):
        insert_run(MetadataStore(db_url))


def test_malformed_url_and_unwritable_home(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        MetadataStore("::nonsense::")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"cannot create .* for the metadata database"):
        insert_run(MetadataStore(f"sqlite:///{blocker / 'sub' / 'limelight.db'}"))


def test_unreachable_postgres_says_so() -> None:
    store = MetadataStore("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(ConfigError, match=r"cannot open the metadata database.*server is running"):
        insert_run(store)


def _write_metrics(url: str, run_id: int, worker: int, count: int, batch: int) -> None:
    store = MetadataStore(url)
    rows = [
        {"run_id": run_id, "name": f"w{worker}", "step": i, "value": float(i), "timestamp": 0.0}
        for i in range(count)
    ]
    for start in range(0, count, batch):
        store.transaction(lambda conn, s=start: conn.execute(metrics.insert(), rows[s : s + batch]))
    store.dispose()


@pytest.mark.parametrize("batch", [1, 500])
def test_four_processes_write_at_once_without_losing_anything(db_url: str, batch: int) -> None:
    store = MetadataStore(db_url)
    run_id = insert_run(store)
    store.dispose()
    count = 400 if batch == 1 else 20_000
    ctx = mp.get_context("spawn")
    workers = [
        ctx.Process(target=_write_metrics, args=(db_url, run_id, w, count, batch)) for w in range(4)
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with store.connect() as conn:
        got = conn.execute(
            sa.select(metrics.c.name, sa.func.count()).group_by(metrics.c.name)
        ).all()
    assert dict(got) == {f"w{w}": count for w in range(4)}
    store.dispose()
