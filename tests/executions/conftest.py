"""Fixtures for the pipeline's tests: the vendor fakes, and the ledger's consistency check."""

import pytest
from django.db.models import Sum

from executions.models import ModelCall
from tests.fakes.anthropic import serving_anthropic
from tests.fakes.openai import serving_openai


@pytest.fixture
def anthropic_fake(settings, monkeypatch):
    with serving_anthropic(settings, monkeypatch) as fake:
        yield fake


@pytest.fixture
def openai_fake(settings, monkeypatch):
    with serving_openai(settings, monkeypatch) as fake:
        yield fake


@pytest.fixture
def live(settings, anthropic_fake, openai_fake):
    """Live mode: the real SDKs, talking to the two fakes."""
    settings.ORCHESTRATOR_MODE = "live"
    settings.LLM_MAX_RETRIES = 3
    return anthropic_fake, openai_fake


def assert_ledger_consistent(period):
    """spent is the sum of the calls' costs to the nanodollar, and nothing stays reserved."""
    period.refresh_from_db()
    charged = (
        ModelCall.objects.filter(execution__period=period).aggregate(total=Sum("cost_nanos"))["total"] or 0
    )
    assert period.spent_nanos == charged
    assert period.reserved_nanos == 0
    assert period.spent_nanos <= period.limit_nanos
