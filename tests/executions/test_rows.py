"""``update_row`` stores exactly what ``QuerySet.update()`` stores, on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from budget.periods import current_period
from executions.models import Execution, Task
from executions.rows import update_row
from executions.services import create_task

pytestmark = pytest.mark.django_db

FIELDS = ["status", "plan", "change", "pr_number", "cost_nanos", "error", "heartbeat_at", "finished_at"]

aware = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
changes = st.fixed_dictionaries(
    {
        "status": st.sampled_from(Execution.Status.values),
        "plan": text,
        "change": st.none() | json_values,
        "pr_number": st.none() | st.integers(0, 2**31 - 1),
        "cost_nanos": st.integers(0, 2**62),
        "error": text,
        "heartbeat_at": aware,
        "finished_at": st.none() | aware,
    }
)


def new_execution(title: str) -> Execution:
    return Execution.objects.create(task=create_task(title=title), period=current_period())


def stored(execution: Execution) -> dict:
    row = Execution.objects.get(pk=execution.pk)
    return {name: getattr(row, name) for name in FIELDS}


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=changes)
def test_it_stores_what_queryset_update_stores(values):
    by_orm, by_row = new_execution("ORM"), new_execution("Row")

    Execution.objects.filter(pk=by_orm.pk).update(**values)
    assert update_row(Execution, by_row.pk, **values) is True

    assert stored(by_row) == stored(by_orm)


def test_add_is_done_by_the_database_not_from_a_stale_instance():
    execution = new_execution("Counted")
    Execution.objects.filter(pk=execution.pk).update(cost_nanos=100)  # another writer; the instance says 0

    update_row(Execution, execution.pk, add={"cost_nanos": 5}, status=Execution.Status.ANALYSING)
    update_row(Execution, execution.pk, add={"cost_nanos": 7})

    row = Execution.objects.get(pk=execution.pk)
    assert (row.cost_nanos, row.status) == (112, Execution.Status.ANALYSING)


def test_a_where_that_does_not_match_changes_nothing():
    task = create_task(title="Claimed elsewhere")
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING)

    claimed = update_row(
        Task, task.pk, where={"status": Task.Status.PENDING}, add={"attempts": 1}, status=Task.Status.RUNNING
    )

    assert claimed is False
    assert Task.objects.get(pk=task.pk).attempts == 0
    assert update_row(Task, task.pk + 1000, status=Task.Status.DONE) is False  # no such row


def test_nothing_to_set_is_a_mistake_not_a_no_op():
    with pytest.raises(ValueError, match="at least one column"):
        update_row(Task, create_task(title="Untouched").pk, where={"status": Task.Status.PENDING})
