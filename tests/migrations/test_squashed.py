"""The squashed migrations (budget 0001_squashed_0016, executions 0001_squashed_0011): a database
made from the squash holds the same schema and seed as one made by the migrations it replaces, and
an install that ran those one by one goes on from them cleanly."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.migrations.chains import copy_without_squashes

ROOT = Path(__file__).resolve().parents[2]
SQUASHED = {"budget": "0001_squashed_0016_period_revisions", "executions": "0001_squashed_0011_revisions"}
COLUMNS = (
    "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
    "WHERE table_schema = 'public' AND table_name NOT LIKE 'django_%'"
)
INDEXES = "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'django_%'"
CATALOG = (
    "SELECT m.name, m.retires_on, s.name, p.effective_from, p.input_nanos, p.output_nanos, p.cache_read_nanos, "
    "p.cache_read_increment_tokens FROM budget_languagemodel m LEFT JOIN budget_languagemodel s "
    "ON s.id = m.successor_id JOIN budget_price p ON p.model_id = m.id"
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def scratch_databases():
    """``make()`` gives the URL of a new, empty database on the test server; all are dropped after."""
    url = urlsplit(os.environ["DATABASE_URL"])
    server = {"host": url.hostname or "127.0.0.1", "port": url.port or 5432, "user": url.username or "postgres"}
    made = []

    def make() -> str:
        name = f"squash_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgres://{server['user']}@{server['host']}:{server['port']}/{name}"

    yield make
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(*args, database: str, before_squash: Path | None = None) -> str:
    env = {**os.environ, "DATABASE_URL": database, "DEBUG": "1"}
    if before_squash is not None:
        env["PYTHONPATH"] = f"{before_squash}{os.pathsep}{ROOT}"
        env["DJANGO_SETTINGS_MODULE"] = "settings_before_squash"
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _before_squash(tmp_path: Path) -> Path:
    """The migration packages without the squashed files, and settings that use them: what an
    install ran before the squash shipped."""
    copy_without_squashes(tmp_path / "before_squash")
    (tmp_path / "settings_before_squash.py").write_text(
        "from orchestration_site.settings import *  # noqa: F403\n"
        'MIGRATION_MODULES = {"budget": "before_squash.budget", "executions": "before_squash.executions"}\n'
    )
    return tmp_path


def _read(database: str, query: str) -> set:
    with psycopg.connect(database) as db:
        return set(db.execute(query))


def test_the_squash_makes_what_the_replaced_migrations_made_and_an_old_install_goes_on(
    scratch_databases, tmp_path
):
    old, new = scratch_databases(), scratch_databases()
    before = _before_squash(tmp_path)
    _manage("migrate", "--no-input", "-v0", database=old, before_squash=before)
    steps = _read(old, "SELECT step, model_name FROM executions_stepconfig")
    _manage("migrate", "--no-input", "-v0", database=new)

    assert _read(new, COLUMNS) == _read(old, COLUMNS)
    assert _read(new, INDEXES) == _read(old, INDEXES)
    assert _read(new, CATALOG) == _read(old, CATALOG)
    assert _read(new, "SELECT amount_nanos FROM budget_threshold") == {(5 * 10**9,), (10**10,), (15 * 10**9,)}
    assert {n for _a, n in _read(new, "SELECT app, name FROM django_migrations")} >= set(SQUASHED.values())

    applied = _read(old, "SELECT app, name FROM django_migrations")
    assert {("budget", "0016_period_revisions"), ("executions", "0011_revisions")} <= applied
    assert ("analysis", "claude-sonnet-4-5") in steps  # the replaced chain's seed

    # The old chain still goes back past the migration that dropped the ledger's PL/pgSQL
    # functions (0008) and forward again: an install between two releases is not stuck.
    ledger_functions = "SELECT proname FROM pg_proc WHERE proname LIKE 'budget%'"
    _manage("migrate", "budget", "0006", "--no-input", "-v0", database=old, before_squash=before)
    assert {name for (name,) in _read(old, ledger_functions)} == {
        "budget_charge",
        "budget_release",
        "budget_reserve",
    }

    _manage("migrate", "--no-input", "-v0", database=old)  # today's code, on the old install
    assert "[ ]" not in _manage("showmigrations", "budget", "executions", database=old)
    _manage("makemigrations", "--check", "--dry-run", database=old)  # the models match the migrations
    assert set(SQUASHED.items()) <= _read(old, "SELECT app, name FROM django_migrations")
    assert _read(old, ledger_functions) == set()  # 0008 dropped them again
    assert _read(old, "SELECT step, model_name FROM executions_stepconfig") == steps  # kept as it was
