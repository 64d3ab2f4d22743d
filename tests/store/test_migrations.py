from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from mlharbor.store.db import current_revisions, make_engine, migration_heads, upgrade
from mlharbor.store.orm import Base


def test_migrations_build_every_table_on_an_empty_database(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    engine.dispose()


def test_migrations_match_the_orm(empty_database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(empty_database_url)
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_an_older_database_is_brought_to_head(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine, "0004_version_counter")
    assert "ui_sessions" not in inspect(engine).get_table_names()
    upgrade(engine)  # not at head: the migrations run
    assert "ui_sessions" in inspect(engine).get_table_names()
    assert current_revisions(engine) == migration_heads()
    engine.dispose()


def test_a_database_at_head_opens_without_loading_alembic(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    engine.dispose()
    # A fresh process, as every command and server start is one.
    probe = (
        "import sys\n"
        "from mlharbor.store.db import make_engine, upgrade\n"
        f"upgrade(make_engine({empty_database_url!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_the_packaged_head_is_the_one_alembic_finds() -> None:
    from alembic.script import ScriptDirectory

    from mlharbor.store.db import MIGRATIONS, alembic_config

    engine = make_engine("sqlite://")
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert migration_heads() == frozenset(script.get_heads())
    assert MIGRATIONS.is_dir()
