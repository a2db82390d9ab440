"""Two processes: while one execution holds the month's money, another waits (exit 4) and nothing
is recorded or announced; the month is not exhausted."""

import pytest

from budget.money import dollars_str
from budget.periods import current_period, set_limit
from executions.backlog.services import create_task
from executions.models import Execution
from executions.pipeline.runner import prepare
from executions.providers import providers_for_mode
from executions.repositories.gateways import get_gateway
from notifications.models import Event
from tests.executions.conftest import assert_ledger_consistent
from tests.executions.test_two_processes import start_run, wait_until_running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("pinned_clock"),
]


def test_while_one_process_holds_the_budget_the_other_is_busy_and_nothing_is_said(settings):
    first_task = create_task(title="Add a health check endpoint")
    second_task = create_task(title="Document the environment variables")
    worst = prepare(first_task, providers=providers_for_mode(), gateway=get_gateway()).worst_case
    # Room for one execution's worst case, not for two at once; plenty for both one after the other.
    set_limit(current_period(), dollars_str(worst.admit_nanos + worst.nanos // 2))

    # Each of the first's model calls takes 5 s: it still holds the money while a second Django
    # process starts on a busy machine.
    first = start_run(first_task.pk, settings, latency="5")
    wait_until_running(first_task, first)
    second = start_run(second_task.pk, settings, latency="0")
    second_out, second_err = second.communicate(timeout=60)
    first_out, first_err = first.communicate(timeout=60)

    assert first.returncode == 0, first_err
    assert second.returncode == 4, second_err
    assert "Not started: Busy: the next execution needs up to" in second_err
    assert Execution.objects.count() == 1
    assert not Event.objects.filter(kind="budget_exhausted").exists()
    period = current_period()
    assert period.exhausted_at is None
    assert_ledger_consistent(period)

    # Once the first has finished, the second runs.
    again = start_run(second_task.pk, settings, latency="0")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
