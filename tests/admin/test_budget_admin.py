"""Budget admin: money typed and shown in dollars, stored in nanodollars; the limit only through set_limit."""

import datetime as dt

import pytest

from budget import ledger
from budget.models import LanguageModel, Period, Price, Threshold
from budget.money import to_nanos
from budget.periods import current_period
from budget.pricing import Usage
from budget.reconciliation import Counted, VendorOutcome, compare, record
from tests.admin.conftest import form_fields
from tests.api.conftest import NOW, paid_execution

pytestmark = pytest.mark.django_db


def price_form(model: LanguageModel, **overrides) -> dict:
    form = {
        "model": model.pk, "effective_from": "2026-12-01", "input_usd": "0.8", "output_usd": "4",
        "cache_write_5m_usd": "1", "cache_write_1h_usd": "1.6", "cache_read_usd": "0.08",
        "batch_discount_percent": "50", "cache_read_increment_tokens": "1",
    }  # fmt: skip
    return {**form, **overrides}


def test_a_price_typed_per_million_tokens_is_stored_per_token(admin_client):
    haiku = LanguageModel.objects.get(name="claude-haiku-4-5")

    response = admin_client.post("/admin/budget/price/add/", price_form(haiku))

    assert response.status_code == 302
    price = Price.objects.get(model=haiku, effective_from="2026-12-01")
    assert (price.input_nanos, price.output_nanos, price.cache_read_nanos) == (800, 4000, 80)
    listing = admin_client.get("/admin/budget/price/").content.decode()
    assert "$0.80" in listing and "$4.00" in listing


def test_a_price_finer_than_a_nanodollar_per_token_is_refused(admin_client):
    haiku = LanguageModel.objects.get(name="claude-haiku-4-5")

    response = admin_client.post("/admin/budget/price/add/", price_form(haiku, input_usd="0.0005"))

    assert response.status_code == 200
    assert "Ensure that there are no more than 3 decimal places." in response.content.decode()
    assert not Price.objects.filter(model=haiku, effective_from="2026-12-01").exists()


def test_a_price_that_was_charged_is_history_and_cannot_be_edited(admin_client, frozen_now):
    paid_execution("uses the seed prices", now=NOW)
    charged = Price.objects.get(model__name="gpt-4o-mini")

    page = admin_client.get(f"/admin/budget/price/{charged.pk}/change/").content.decode()
    admin_client.post(f"/admin/budget/price/{charged.pk}/change/", price_form(charged.model, input_usd="9"))

    assert 'name="input_usd"' not in page  # view-only
    charged.refresh_from_db()
    assert charged.input_nanos == 150


def test_thresholds_are_edited_in_dollars(admin_client):
    response = admin_client.post("/admin/budget/threshold/add/", {"amount": "7.50", "enabled": "on"})

    assert response.status_code == 302
    assert Threshold.objects.filter(amount_nanos=to_nanos("7.5"), enabled=True).exists()
    duplicate = admin_client.post("/admin/budget/threshold/add/", {"amount": "5", "enabled": "on"})
    assert "there is already a $5.00 threshold" in duplicate.content.decode()


def test_the_period_shows_money_in_dollars_and_takes_a_new_limit(admin_client, frozen_now):
    paid_execution("one run", now=NOW)
    period = current_period()

    page = admin_client.get(f"/admin/budget/period/{period.pk}/change/").content.decode()
    response = admin_client.post(
        f"/admin/budget/period/{period.pk}/change/", {**form_fields(page), "limit": "25.50"}
    )

    assert "$0.031275" in page and 'name="limit"' in page and 'value="15.00"' in page
    assert 'name="spent' not in page  # spent, reserved and remaining are read-only
    assert response.status_code == 302
    period.refresh_from_db()
    assert (period.limit_nanos, period.spent_nanos) == (to_nanos("25.5"), to_nanos("0.031275"))


def test_a_limit_below_committed_money_is_refused_and_nothing_changes(admin_client, frozen_now):
    ledger.reserve(to_nanos("2"), period=current_period())
    period = current_period()
    page = admin_client.get(f"/admin/budget/period/{period.pk}/change/").content.decode()

    response = admin_client.post(
        f"/admin/budget/period/{period.pk}/change/", {**form_fields(page), "limit": "1.99"}
    )

    assert response.status_code == 200
    assert (
        "The limit cannot go below $2.00: that much is already spent or reserved."
        in response.content.decode()
    )
    period.refresh_from_db()
    assert (period.limit_nanos, period.reserved_nanos) == (to_nanos("15"), to_nanos("2"))


def test_periods_are_not_added_or_deleted_by_hand(admin_client, frozen_now):
    period = current_period()

    assert admin_client.get("/admin/budget/period/add/").status_code == 403
    assert admin_client.post(f"/admin/budget/period/{period.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Period.objects.filter(pk=period.pk).exists()


def test_the_period_list_has_a_spend_bar_and_milestones_are_listed(admin_client, frozen_now):
    Threshold.objects.create(amount_nanos=to_nanos("0.03"))
    paid_execution("crosses 3 cents", now=NOW)

    periods = admin_client.get("/admin/budget/period/").content.decode()
    milestones = admin_client.get("/admin/budget/milestone/").content.decode()

    assert "$0.03 spent, $0.00 reserved of $15.00" in periods
    assert "$0.03 in 2026-11" in milestones and "$0.031275" in milestones


def test_reconciliations_are_read_only_and_say_what_differs(admin_client, frozen_now):
    day = dt.date(2026, 11, 19)
    found = compare(
        "anthropic",
        [Counted(day, "claude-sonnet-4-5-20250929", False, Usage(input_tokens=4000))],
        [Counted(day, "claude-sonnet-4-5", False, Usage(input_tokens=2000), calls=1)],
        tolerance_percent=1,
        closed_before=frozen_now.date(),
    )
    row = record(month=dt.date(2026, 11, 1), vendors={"anthropic": VendorOutcome("differs")}, differences=found, now=frozen_now)  # fmt: skip

    listing = admin_client.get("/admin/budget/usagereconciliation/").content.decode()
    page = admin_client.get(f"/admin/budget/usagereconciliation/{row.pk}/change/").content.decode()

    assert "anthropic differs" in listing
    assert (
        "2026-11-19 claude-sonnet-4-5: vendor vs ledger input 4,000 vs 2,000 (+2,000); worth +$0.006" in page
    )
    assert admin_client.get("/admin/budget/usagereconciliation/add/").status_code == 403
