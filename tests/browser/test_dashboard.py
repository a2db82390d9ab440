"""In a real browser (Debian's headless Chromium, driven by Playwright): log in to the admin, open
the dashboard from the index, check the chart and that the figures shown are the API's."""

import datetime as dt
import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from playwright.sync_api import expect, sync_playwright

from budget.models import Threshold
from budget.money import to_nanos
from budget.periods import current_period, set_limit
from tests.api.conftest import NOW, paid_execution

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOT = Path(settings.BASE_DIR) / "test-artifacts" / "dashboard.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (.ci/run installs it)"),
]


def cents(dollars: str) -> str:
    """The API's exact decimal string as the dashboard shows it: rounded to the cent."""
    return f"${Decimal(dollars).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


@pytest.fixture
def busy_month(django_user_model):
    """Twenty runs from Nov 1 to Nov 20 against a $1.00 limit, with milestones at 20, 40 and 60 cents."""
    with time_machine.travel(NOW, tick=True):
        for cents in (20, 40, 60):
            Threshold.objects.create(amount_nanos=to_nanos(f"0.{cents}"))
        set_limit(current_period(), "1.00")
        for day in range(1, 21):
            at = NOW.replace(day=day, hour=9) if day < 20 else NOW - dt.timedelta(hours=1)
            paid_execution(f"Task from the backlog, day {day}", now=at, succeeded=day % 7 != 0)
        django_user_model.objects.create_superuser("admin", "admin@example.com", "admin-pass-123")
        yield


def test_the_dashboard_shows_the_chart_and_the_apis_figures(live_server, busy_month):
    # Playwright's sync API runs an event loop in this thread: no ORM calls from here on.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "admin-pass-123")
        page.click("input[type=submit]")
        page.get_by_role("link", name="Dashboard").first.click()
        expect(page).to_have_url(f"{live_server.url}/admin/dashboard/")

        usage = page.request.get(f"{live_server.url}/api/v1/usage/current/").json()  # the same session
        chart = page.locator("svg.spend-chart")
        expect(chart).to_be_visible()
        spend_path = chart.locator("#spend-path").get_attribute("d")
        assert spend_path.startswith("M") and spend_path.count("L") == 20  # one point per day to now
        expect(chart.locator("#limit-line")).to_have_count(1)
        expect(chart.locator("#even-spend-line")).to_have_count(1)
        assert [m.get_attribute("data-threshold") for m in chart.locator(".milestone").all()] == [
            cents(m["threshold"]) for m in usage["milestones"]
        ]
        assert len(usage["milestones"]) == 3
        for key in ("spent", "limit", "remaining"):
            shown = page.get_by_test_id(key)
            assert shown.get_attribute("data-dollars") == usage[key]
            assert shown.inner_text() == cents(usage[key])
        assert page.get_by_test_id("executions").inner_text() == str(usage["executions"])
        assert page.get_by_test_id("prs").inner_text() == str(usage["prs"])

        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
