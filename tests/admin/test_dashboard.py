"""The dashboard: the month's figures from the ledger, the spend chart, runs, schedule and warnings."""

import datetime as dt
import re

import pytest
from django_q.models import Schedule

from budget import ledger
from budget.models import LanguageModel, Threshold
from budget.money import to_nanos
from budget.periods import current_period, set_limit
from budget.pricing import Usage
from budget.reconciliation import Counted, VendorOutcome, compare, record
from executions.backlog.services import create_task
from executions.pipeline.runner import run_execution
from notifications.models import Channel, Delivery, Event
from tests.api.conftest import ANALYSIS, NOW, paid_execution

pytestmark = pytest.mark.django_db


def dashboard(client) -> str:
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_admin_index_links_the_dashboard(admin_client):
    assert 'href="/admin/dashboard/"' in admin_client.get("/admin/").content.decode()


def test_only_staff_see_it(client, django_user_model):
    assert client.get("/admin/dashboard/").url.startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("member", password="member-pass-123"))
    assert client.get("/admin/dashboard/").url.startswith("/admin/login/")


def test_the_figures_are_what_the_ledger_charged(admin_client, frozen_now):
    Threshold.objects.create(amount_nanos=to_nanos("0.05"))
    runs = [paid_execution(f"task {i}", now=NOW - dt.timedelta(days=i)) for i in (2, 1, 0)]

    page = dashboard(admin_client)

    assert sum(r.cost_nanos for r in runs) == to_nanos("0.093825")
    assert 'data-testid="spent" data-dollars="0.093825"' in page and ">$0.09</div>" in page
    assert 'data-testid="limit" data-dollars="15.00"' in page
    assert 'data-testid="remaining" data-dollars="14.906175"' in page
    assert re.search(r'data-testid="executions">3<', page) and re.search(r'data-testid="prs">3<', page)
    assert "task 0" in page and "$0.0313" in page  # the last executions, newest first
    assert page.index("task 0") < page.index("task 2")


def test_the_chart_draws_spend_limit_even_line_and_milestones(admin_client, frozen_now):
    Threshold.objects.create(amount_nanos=to_nanos("0.05"))
    set_limit(current_period(), "0.10")
    paid_execution("day one", now=NOW - dt.timedelta(days=1))
    paid_execution("day two", now=NOW)

    page = dashboard(admin_client)
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg"')
    svg = page[start : page.index("</svg>", start)]

    assert 'id="spend-path"' in svg and 'id="limit-line"' in svg and 'id="even-spend-line"' in svg
    assert 'class="milestone" data-threshold="$0.05"' in svg
    assert "limit $0.10" in svg
    # The cumulative path starts at zero on Nov 1 and ends at the period's spend, now.
    path = re.search(r'id="spend-path" d="([^"]+)"', svg).group(1)
    points = [tuple(map(int, p[1:].split(","))) for p in path.split()]
    assert points[0][1] > points[-1][1]  # it rose (SVG y grows downwards)
    assert len(points) == 1 + 20  # the start, then the end of each day from Nov 1 to Nov 20
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # no external assets


def test_next_scheduled_run(admin_client, frozen_now):
    assert "Not scheduled; run <code>python manage.py setup_schedules</code>." in dashboard(admin_client)

    Schedule.objects.create(
        name="run-next-execution", func="executions.jobs.run_next", schedule_type=Schedule.MINUTES,
        minutes=30, next_run=NOW + dt.timedelta(minutes=12),
    )  # fmt: skip

    assert "Nov 20, 12:12 UTC" in dashboard(admin_client) and "every 30 min" in dashboard(admin_client)


def test_warnings_for_a_retiring_model_and_an_exhausted_budget(admin_client, frozen_now):
    period = current_period()
    ledger.mark_exhausted(period, now=NOW)

    page = dashboard(admin_client)

    assert "Model claude-sonnet-4-5 retires on 2026-11-30; claude-sonnet-5-5 replaces it." in page
    assert "The budget for November 2026 is exhausted (since Nov 20, 12:00)" in page


def test_a_warning_for_dead_deliveries(admin_client, frozen_now):
    channel = Channel.objects.create(
        name="Team", kind=Channel.Kind.DISCORD, url="https://discord.com/api/webhooks/1/t"
    )
    for n in (1, 2):
        event = Event.objects.create(kind=Event.Kind.ERROR, key=f"test:{n}", payload={})
        Delivery.objects.create(
            event=event, channel=channel, status=Delivery.Status.DEAD, attempts=8, next_attempt_at=NOW
        )

    assert "2 notification deliveries failed for good: see Deliveries." in dashboard(admin_client)


def test_nothing_to_warn_about(admin_client, frozen_now):
    LanguageModel.objects.update(retires_on=None)

    assert "Nothing needs attention." in dashboard(admin_client)


def test_cost_per_execution_sits_beside_cost_per_merged_pr(admin_client, frozen_now):
    paid_execution("full", now=NOW)
    paid_execution(
        "analysis only", now=NOW, succeeded=False, steps=[("analysis", "claude-sonnet-4-5", ANALYSIS)]
    )

    page = dashboard(admin_client)

    # ($0.031275 + $0.0285) / 2, exact; the dearer of the two is the 90th percentile.
    assert 'data-testid="cost-per-execution" data-dollars="0.0298875">$0.0298875<' in page
    assert re.search(r'data-testid="cost-per-execution-p90">p90 \$0.031275 · last 2<', page)
    assert page.index('data-testid="cost-per-execution"') < page.index('data-testid="cost-per-merged-pr"')


def test_the_reconciliation_panel_says_what_differs(admin_client, frozen_now, settings):
    assert "Not compared yet: reconciliation is off without the vendors' admin keys." in dashboard(
        admin_client
    )
    day = dt.date(2026, 11, 19)
    found = compare(
        "openai",
        [Counted(day, "gpt-4o-mini-2024-07-18", False, Usage(input_tokens=2500, output_tokens=4000))],
        [],
        tolerance_percent=1,
        closed_before=NOW.date(),
    )
    record(
        month=dt.date(2026, 11, 1), vendors={"openai": VendorOutcome("differs")}, differences=found, now=NOW
    )

    page = dashboard(admin_client)

    panel = page[page.index('data-testid="reconciliation"') :]
    assert "2026-11: differs (checked 2026-11-20 12:00 UTC)" in panel
    assert (
        "2026-11-19 gpt-4o-mini: vendor vs ledger input 2,500 vs 0 (+2,500), output 4,000 vs 0 (+4,000); "
        "worth +$0.002775; no recorded call [past the tolerance]"
    ) in panel


@pytest.mark.usefixtures("pinned_clock")
def test_in_local_git_mode_the_pull_requests_card_counts_the_branches_published(admin_client):
    assert 'data-testid="prs-note">none yet<' in dashboard(admin_client)
    for title in ("Document the settings", "Explain the budget"):
        run_execution(create_task(title=title, description="Write it down."))

    page = dashboard(admin_client)
    assert re.search(r'data-testid="prs">0<', page)
    assert "2 branches published to the local git repository (no GitHub: no pull requests)" in page
