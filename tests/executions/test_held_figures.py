"""What running work holds now (status, --json, dashboard) and held ÷ charged (budget costs)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from budget import ledger
from executions.backlog.services import create_task
from executions.models import Execution
from executions.pipeline.runner import run_execution

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_status_and_the_dashboard_say_what_running_work_holds_now(admin_client):
    ledger.reserve(12_345_600, label="task 1: running", exposed_nanos=40_000_000)
    ledger.reserve(1_000_000, label="task 2: running")

    assert (
        "  Held now    $0.0133 by 2 running execution(s) (and $0.0400 kept free until their analyses are billed)"
        in run("budget", "status")
    )
    held = json.loads(run("budget", "status", "--json"))["held_now"]
    assert held == {"executions": 2, "held": "0.0133456", "exposed": "0.04"}
    page = admin_client.get("/admin/dashboard/").content.decode()
    assert "$0.01 held now by 2 running executions" in page


def test_costs_show_what_each_execution_held_over_what_it_was_charged():
    executions = [run_execution(create_task(title=f"Add a health check {n}")) for n in range(3)]
    ratios = sorted(e.reserved_nanos * 100 // e.cost_nanos for e in executions)
    assert all(e.status == Execution.Status.SUCCEEDED for e in executions)

    data = json.loads(run("budget", "costs", "--json"))["held_per_charged"]

    assert data == {
        "executions": 3,
        "mean": f"{(sum(ratios) * 2 + 3) // 6 / 100:.2f}",
        "p90": f"{ratios[-1] / 100:.2f}",
    }
    assert f"Held ÷ charged: {data['mean']}× mean, {data['p90']}× p90 over 3 finished" in run(
        "budget", "costs"
    )
