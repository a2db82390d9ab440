"""Shared fixtures. No test reaches the internet: vendor base URLs point at a closed local port
unless a test starts a fake and points them at it."""

import os

import pytest
from django.db import connection

# Before Django reads settings: no real keys, simulated models, vendors unreachable by default.
for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "GITHUB_REPOSITORY",
             "DISCORD_WEBHOOK_URL", "REDIS_URL", "GITHUB_APP_ID"):
    os.environ.pop(name, None)
os.environ["ORCHESTRATOR_MODE"] = "simulated"
os.environ["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ["GITHUB_API_URL"] = "http://127.0.0.1:9"
os.environ["GITHUB_SECONDS_BETWEEN_REQUESTS"] = "0"
os.environ["GITHUB_SECONDS_BETWEEN_WRITES"] = "0"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need PostgreSQL, ``redis`` need Redis. They run when
    DATABASE_URL / TEST_REDIS_URL point at them (bin/test's second pass does) and say plainly why
    they did not run otherwise."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_redis = bool(os.environ.get("TEST_REDIS_URL"))
    for item in items:
        restore_seed_rows(item)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: DATABASE_URL=postgres://... (bin/test)"))
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


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _sandbox_paths(settings, tmp_path):
    """Each test gets its own local git repository and never the developer's."""
    settings.LOCAL_REPO_PATH = str(tmp_path / "sandbox-repo")
