"""Shared fixtures. No test reaches the internet: vendor base URLs point at a closed local port
unless a test starts a fake and points them at it."""

import datetime as dt
import os

import pytest
import time_machine
from django.db import connection
from hypothesis import HealthCheck, settings

from tests.clock import CLOCK_SHIFT_DAYS

pytest_plugins = [
    "tests.fakes.repository",  # the memory_gateway fixture
    "tests.seed_day",  # the test database is made as of PINNED_DAY
]

# Before Django reads settings: no real keys, simulated models, vendors unreachable by default.
for name in (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "DISCORD_WEBHOOK_URL",
    "REDIS_URL",
    "GITHUB_APP_ID",
    "ANTHROPIC_ADMIN_API_KEY",
    "ANTHROPIC_API_KEY_ID",
    "OPENAI_ADMIN_API_KEY",
    "OPENAI_PROJECT_ID",
    "OPENAI_API_KEY_ID",
):
    os.environ.pop(name, None)
os.environ["ORCHESTRATOR_MODE"] = "simulated"
os.environ["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ["GITHUB_API_URL"] = "http://127.0.0.1:9"
os.environ["GITHUB_SECONDS_BETWEEN_REQUESTS"] = "0"
os.environ["GITHUB_SECONDS_BETWEEN_WRITES"] = "0"

# Property tests assert what is true, not how fast: a per-example deadline only measures how busy
# the machine is (speed targets have their benchmark scripts, docs/benchmarks.md).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

# A day on which every model the seed configures is in service (claude-sonnet-4-5 retires on
# 2026-11-30, gpt-4o-mini on 2027-01-14): tests that expect the seeded models' prices pin it.
PINNED_DAY = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need PostgreSQL, ``redis`` need Redis. They run when
    DATABASE_URL / TEST_REDIS_URL point at them (bin/test's second pass does) and say plainly why
    they did not run otherwise."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_redis = bool(os.environ.get("TEST_REDIS_URL"))
    for item in items:
        restore_seed_rows(item)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: DATABASE_URL=postgres://... (bin/test)")
            )
        if "redis" in item.keywords and not (has_redis and on_postgres):
            item.add_marker(pytest.mark.skip(reason="needs Redis: TEST_REDIS_URL=redis://... (bin/test)"))


def restore_seed_rows(item):
    """A transactional test empties every table when it ends, the data migrations' seed (prices,
    thresholds, step configs) included; serialized rollback puts those rows back before each one,
    so a test does not depend on which transactional test ran before it."""
    marker = item.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
        kwargs = {**marker.kwargs, "serialized_rollback": True}
        item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(autouse=True)
def _shifted_clock():
    """The year-ahead check (bin/test's third pass): TEST_CLOCK_SHIFT_DAYS=365 moves the clock of
    every test that does not pin its own (it keeps ticking), so a test that silently depends on
    today's date fails now rather than on the day a model retires. A pin inside a test
    (``time_machine.travel``, ``pinned_clock``) still wins: the innermost travel applies."""
    if not CLOCK_SHIFT_DAYS:
        yield
        return
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=CLOCK_SHIFT_DAYS)
    with time_machine.travel(ahead, tick=True):
        yield


@pytest.fixture
def pinned_clock():
    """The clock at PINNED_DAY (ticking), for tests whose figures follow the seeded models."""
    with time_machine.travel(PINNED_DAY, tick=True):
        yield PINNED_DAY


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _sandbox_paths(settings, tmp_path):
    """Each test gets its own local git repository and never the developer's."""
    settings.LOCAL_REPO_PATH = str(tmp_path / "sandbox-repo")
    settings.CONTEXT_CACHE_DIR = str(tmp_path / "context-cache")
