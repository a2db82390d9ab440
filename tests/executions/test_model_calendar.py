"""Both sides of each retirement date in the catalog: the last day a model runs, and the first day
its successor runs instead (said once) — with the clock pinned, as a scheduled run would see it."""

import datetime as dt

import pytest
import time_machine

from budget.catalog import ModelRetired
from budget.models import LanguageModel
from executions.backlog.services import create_task
from executions.models import Execution, Task
from executions.pipeline.runner import run_execution
from notifications.models import Event

pytestmark = pytest.mark.django_db

# The seed's simulated token profile: analysis 2,000 in / 1,500 out, codegen 2,500 in / 4,000 out.
SONNET_4_5 = 2000 * 3000 + 1500 * 15000
SONNET_5_5 = 2000 * 2000 + 1500 * 10000
GPT_4O_MINI = 2500 * 150 + 4000 * 600
GPT_6_LUNA = 2500 * 100 + 4000 * 500


def noon(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")


def calls(execution: Execution) -> list[tuple[str, str, str, int]]:
    return [(c.step, c.requested_model, c.model, c.cost_nanos) for c in execution.calls.order_by("pk")]


def switches() -> list[dict]:
    return [e.payload for e in Event.objects.filter(kind=Event.Kind.MODEL_SWITCHED)]


@time_machine.travel(noon("2026-11-29"), tick=True)
def test_the_day_before_sonnet_4_5_retires_it_still_runs():
    execution = run_execution(create_task(title="Document the settings"))

    assert calls(execution) == [
        ("analysis", "claude-sonnet-4-5", "claude-sonnet-4-5", SONNET_4_5),
        ("codegen", "gpt-4o-mini", "gpt-4o-mini", GPT_4O_MINI),
    ]
    assert switches() == []


@time_machine.travel(noon("2026-11-30"), tick=True)
def test_from_its_retirement_day_sonnet_5_5_runs_at_its_price_said_once():
    first = run_execution(create_task(title="Document the settings"))
    second = run_execution(create_task(title="Add a changelog"))

    for execution in (first, second):
        assert execution.status == Execution.Status.SUCCEEDED
        assert calls(execution)[0] == ("analysis", "claude-sonnet-4-5", "claude-sonnet-5-5", SONNET_5_5)
        assert execution.cost_nanos == SONNET_5_5 + GPT_4O_MINI
    assert [(s["requested"], s["used"], s["retired_on"]) for s in switches()] == [
        ("claude-sonnet-4-5", "claude-sonnet-5-5", "2026-11-30")
    ]


@time_machine.travel(noon("2027-01-13"), tick=True)
def test_the_day_before_gpt_4o_mini_shuts_down_it_still_runs():
    execution = run_execution(create_task(title="Document the settings"))

    assert calls(execution)[1] == ("codegen", "gpt-4o-mini", "gpt-4o-mini", GPT_4O_MINI)


@time_machine.travel(noon("2027-01-14"), tick=True)
def test_from_gpt_4o_minis_shutdown_gpt_6_luna_writes_the_code_at_its_price_said_once():
    first = run_execution(create_task(title="Document the settings"))
    second = run_execution(create_task(title="Add a changelog"))

    for execution in (first, second):
        assert execution.status == Execution.Status.SUCCEEDED
        assert calls(execution) == [
            ("analysis", "claude-sonnet-4-5", "claude-sonnet-5-5", SONNET_5_5),
            ("codegen", "gpt-4o-mini", "gpt-6-luna", GPT_6_LUNA),
        ]
    assert sorted((s["requested"], s["used"], s["retired_on"]) for s in switches()) == [
        ("claude-sonnet-4-5", "claude-sonnet-5-5", "2026-11-30"),
        ("gpt-4o-mini", "gpt-6-luna", "2027-01-14"),
    ]


@time_machine.travel(noon("2027-01-14"), tick=True)
def test_a_retired_model_without_successor_is_refused_before_any_charge():
    LanguageModel.objects.filter(name="gpt-4o-mini").update(successor=None)
    task = create_task(title="Document the settings")

    with pytest.raises(ModelRetired, match="'gpt-4o-mini' retired on 2027-01-14"):
        run_execution(task)

    assert not Execution.objects.exists()
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 0)
