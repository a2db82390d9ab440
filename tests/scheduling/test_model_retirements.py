"""The daily check announces configured models that retire soon, once per model and date."""

import datetime as dt

import pytest

from budget.models import LanguageModel
from executions.jobs import check_model_retirements
from executions.models import StepConfig
from notifications.models import Event

pytestmark = pytest.mark.django_db


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")


def announced() -> list[dict]:
    return [e.payload for e in Event.objects.filter(kind=Event.Kind.MODEL_RETIRING).order_by("pk")]


def test_a_configured_model_retiring_within_the_notice_is_announced_once():
    first = check_model_retirements(now=at("2026-11-25"))
    again = check_model_retirements(now=at("2026-11-26"))

    assert first == "retiring soon: claude-sonnet-4-5; newly announced: 1"
    assert again == "retiring soon: claude-sonnet-4-5; newly announced: 0"
    assert announced() == [
        {
            "model": "claude-sonnet-4-5",
            "retires_on": "2026-11-30",
            "successor": "claude-sonnet-5-5",
            "days_left": 5,
        }
    ]


def test_a_retired_model_is_left_to_the_pipeline_and_unconfigured_models_are_ignored(settings):
    LanguageModel.objects.filter(name="claude-haiku-4-5").update(retires_on=dt.date(2026, 12, 24))
    settings.MODEL_RETIREMENT_NOTICE_DAYS = 30

    outcome = check_model_retirements(now=at("2026-12-20"))

    # sonnet 4.5 retired on the 30th (the pipeline already switched, and said so); haiku is not
    # configured for any step; gpt-4o-mini (codegen) retires on 2027-01-14.
    assert outcome == "retiring soon: gpt-4o-mini; newly announced: 1"
    assert [p["model"] for p in announced()] == ["gpt-4o-mini"]


def test_a_shorter_notice_waits_and_a_new_date_is_announced_again(settings):
    settings.MODEL_RETIREMENT_NOTICE_DAYS = 3
    assert check_model_retirements(now=at("2026-11-25")) == "retiring soon: none; newly announced: 0"
    assert check_model_retirements(now=at("2026-11-27")).endswith("newly announced: 1")

    LanguageModel.objects.filter(name="claude-sonnet-4-5").update(retires_on=dt.date(2026, 11, 29))
    assert check_model_retirements(now=at("2026-11-27")).endswith("newly announced: 1")
    assert [p["retires_on"] for p in announced()] == ["2026-11-30", "2026-11-29"]


def test_only_the_configured_steps_count():
    StepConfig.objects.filter(step="analysis").update(model_name="claude-haiku-4-5")

    assert check_model_retirements(now=at("2026-11-25")) == "retiring soon: none; newly announced: 0"
