"""The budget's commands, as a person at a terminal runs them."""

import json
import subprocess

import pytest
from django.core.management import CommandError, call_command

from budget import ledger
from budget.models import Period
from budget.money import to_nanos
from budget.pricing import Usage
from tests.clock import manage_py

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_costs_reproduce_the_seed_arithmetic(pinned_clock):
    data = json.loads(run("budget", "costs", "--json"))
    assert [s["cost"] for s in data["steps"]] == ["0.0285", "0.002775"]
    assert data["real"]["per_execution"] == "0.031275"
    assert data["real"]["executions_per_month"] == 479  # $15 / $0.031275
    assert data["worst_case"]["executions_per_month"] < 479
    assert "$0.031275" in run("budget", "costs")


def test_costs_take_a_profile_from_flags(pinned_clock):
    data = json.loads(
        run(
            "budget",
            "costs",
            "--json",
            "--analysis-model",
            "claude-haiku-4-5",
            "--analysis-in",
            "1000",
            "--analysis-out",
            "1000",
            "--limit",
            "5",
        )
    )
    assert data["steps"][0]["cost"] == "0.006"  # 1000 × $1 + 1000 × $5 per 1M
    assert data["limit"] == "5.00"


def test_status_reports_what_was_charged():
    reservation = ledger.reserve(to_nanos("6"))
    ledger.charge(
        reservation,
        to_nanos("5.25"),
        model_name="claude-sonnet-4-5",
        provider="anthropic",
        usage=Usage(input_tokens=2000, output_tokens=1500),
    )
    data = json.loads(run("budget", "status", "--json"))
    assert (data["spent"], data["reserved"], data["remaining"], data["limit"]) == (
        "5.25",
        "0.75",
        "9.00",
        "15.00",
    )
    assert data["percent"] == "35.0"
    assert [m["threshold"] for m in data["milestones"]] == ["5.00"] and data["next_milestone"] == "10.00"
    assert data["models"][0] == {
        "model": "claude-sonnet-4-5",
        "provider": "anthropic",
        "calls": 1,
        "input_tokens": 2000,
        "output_tokens": 1500,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "cost": "5.25",
    }
    assert data["pace"] in ("ahead", "on", "behind")
    text = run("budget", "status")
    assert "$5.25 of $15.00" in text and "claude-sonnet-4-5" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (("budget", "costs", "--analysis-model", "gpt-9"), "Unknown model 'gpt-9'"),
        (("budget", "costs", "--limit", "-3"), "cannot be negative"),
        (("budget", "costs", "--limit", "lots"), "must be a number of dollars"),
        (("budget", "costs", "--codegen-in", "-5"), "--codegen-in must be a whole number"),
        (("reset_budget",), "run it again with --yes"),
    ],
)
def test_bad_input_is_a_one_line_error_with_exit_2_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message) as raised:
        call_command(*args)
    assert raised.value.returncode == 2
    assert Period.objects.filter(spent_nanos__gt=0).count() == 0


def test_malformed_flag_combinations_exit_2_from_the_command_line():
    for args in (["budget"], ["budget", "status", "--json", "--csv"], ["budget", "--json"]):
        result = subprocess.run(manage_py(*args), capture_output=True, text=True)
        assert result.returncode == 2, args
        assert "error:" in result.stderr


def test_reset_budget_closes_the_period_and_opens_a_fresh_one():
    reservation = ledger.reserve(to_nanos("2"))
    ledger.charge(reservation, to_nanos("1.5"), model_name="gpt-4o-mini", provider="openai", usage=Usage())
    ledger.release(reservation)
    assert "Closed the period that spent $1.50" in run("reset_budget", "--yes")
    old, new = Period.objects.order_by("starts_at")
    assert old.closed_at is not None and old.spent_nanos == to_nanos("1.5")
    assert new.spent_nanos == 0 and new.limit_nanos == old.limit_nanos
