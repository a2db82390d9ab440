"""A new install seeds each step on the model live the day its database is made (executions'
first migration), so its first run has no retirement to warn about; the test database itself is
made as of PINNED_DAY (tests/conftest.py), when the seed's own models are live."""

import datetime as dt
import importlib

import pytest

from budget.models import LanguageModel
from executions.models import StepConfig

squashed = importlib.import_module("executions.migrations.0001_squashed_0011_revisions")

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name, day, live",
    [
        ("claude-sonnet-4-5", dt.date(2026, 11, 29), "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", dt.date(2026, 11, 30), "claude-sonnet-5-5"),  # its retirement day
        ("gpt-4o-mini", dt.date(2026, 12, 7), "gpt-4o-mini"),
        ("gpt-4o-mini", dt.date(2027, 1, 14), "gpt-6-luna"),
        ("claude-haiku-4-5", dt.date(2030, 1, 1), "claude-haiku-4-5"),  # no retirement known
        ("not-in-the-catalog", dt.date(2030, 1, 1), "not-in-the-catalog"),
    ],
)
def test_a_step_starts_on_the_model_the_catalog_says_is_live(name, day, live):
    assert squashed.live_model(LanguageModel, name, day) == live


def test_a_successor_without_a_price_is_not_live():
    LanguageModel.objects.filter(name="claude-sonnet-5-5").first().prices.all().delete()
    assert squashed.live_model(LanguageModel, "claude-sonnet-4-5", dt.date(2026, 12, 7)) == "claude-sonnet-4-5"


def test_the_suite_s_own_database_is_seeded_as_of_the_pinned_day():
    assert dict(StepConfig.objects.values_list("step", "model_name")) == {
        "analysis": "claude-sonnet-4-5",
        "codegen": "gpt-4o-mini",
    }
