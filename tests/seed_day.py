"""The test database is made as of PINNED_DAY (a plugin, not a conftest hook: the session-scoped
database fixture sees only plugins and the root's hooks).

A new install seeds each step on the model live the day its database is made (executions' first
migration); the suite's seed is the one of a day on which the seed's own models are live,
whatever today is, so no test depends on the day the suite runs."""

import pytest
import time_machine

from tests.conftest import PINNED_DAY


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if fixturedef.argname != "django_db_setup":
        return (yield)
    with time_machine.travel(PINNED_DAY, tick=True):
        return (yield)
