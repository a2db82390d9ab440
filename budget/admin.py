"""Admin for the budget: the model catalog, prices, thresholds, periods and milestones.

Money is entered and shown in dollars; it is stored as integer nanodollars through ``budget.money``.
A period's limit changes only through ``budget.periods.set_limit`` (never below committed money),
and the ledger's running totals are never written from here.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from budget import outcomes
from budget.models import (
    DailyUsage,
    LanguageModel,
    Milestone,
    ModelUsage,
    Overrun,
    Period,
    Price,
    Reservation,
    Threshold,
    UsageReconciliation,
)
from budget.money import (
    MoneyError,
    format_usd,
    nanos_per_token_to_price,
    price_to_nanos_per_token,
    to_dollars,
    to_nanos,
)
from budget.periods import LimitError, set_limit
from budget.reconciliation import reconciliation_json, summary_lines


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the ledger writes: visible, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def spend_bar(period: Period) -> str:
    """A small bar of spent (solid) and reserved (light) against the limit."""
    limit = period.limit_nanos or 1
    spent = min(period.spent_nanos * 100 // limit, 100)
    reserved = min(period.reserved_nanos * 100 // limit, 100 - spent)
    return format_html(
        '<div title="{} spent, {} reserved of {}" style="display:flex;width:140px;height:10px;'
        'border-radius:5px;background:var(--darkened-bg,#eee);overflow:hidden">'
        '<div style="width:{}%;background:#417690"></div><div style="width:{}%;background:#a9cbdb"></div></div>',
        format_usd(period.spent_nanos, places=2),
        format_usd(period.reserved_nanos, places=2),
        format_usd(period.limit_nanos, places=2),
        spent,
        reserved,
    )


# --- Catalog and prices ------------------------------------------------------------------------


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = [
        "name", "provider", "retires_on", "successor", "accepts_sampling_params", "reasoning", "lifecycle",
    ]  # fmt: skip
    list_filter = ["provider"]
    search_fields = ["name"]

    @admin.display(description="lifecycle")
    def lifecycle(self, model: LanguageModel) -> str:
        if model.retires_on is None:
            return "current"
        today = timezone.localdate()
        if model.retires_on <= today:
            return format_html('<strong style="color:#ba2121">retired {}</strong>', model.retires_on)
        days = (model.retires_on - today).days
        colour = "#c0701b" if days <= 30 else "inherit"
        return format_html('<span style="color:{}">retires in {} days</span>', colour, days)


PRICE_FIELDS = {
    "input_nanos": "input",
    "output_nanos": "output",
    "cache_write_5m_nanos": "cache write (5 min)",
    "cache_write_1h_nanos": "cache write (1 h)",
    "cache_read_nanos": "cache read",
}


class PriceForm(forms.ModelForm):
    """Prices are typed in USD per 1M tokens, as vendors publish them; stored per token in nanodollars."""

    input_usd = forms.DecimalField(label="Input, USD per 1M tokens", min_value=0, decimal_places=3)
    output_usd = forms.DecimalField(label="Output, USD per 1M tokens", min_value=0, decimal_places=3)
    cache_write_5m_usd = forms.DecimalField(
        label="Cache write (5 min), USD per 1M", min_value=0, decimal_places=3, required=False
    )
    cache_write_1h_usd = forms.DecimalField(
        label="Cache write (1 h), USD per 1M", min_value=0, decimal_places=3, required=False
    )
    cache_read_usd = forms.DecimalField(
        label="Cache read, USD per 1M", min_value=0, decimal_places=3, required=False
    )

    class Meta:
        model = Price
        fields = ["model", "effective_from", "batch_discount_percent", "cache_read_increment_tokens"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for field in PRICE_FIELDS:
                value = getattr(self.instance, field)
                self.initial[field.replace("_nanos", "_usd")] = (
                    None if value is None else nanos_per_token_to_price(value)
                )

    def clean(self):
        cleaned = super().clean()
        for field, what in PRICE_FIELDS.items():
            usd = cleaned.get(field.replace("_nanos", "_usd"))
            if usd is None:
                setattr(self.instance, field, None)
                continue
            try:
                setattr(self.instance, field, price_to_nanos_per_token(usd, what=f"{what} price"))
            except MoneyError as exc:
                self.add_error(field.replace("_nanos", "_usd"), str(exc))
        return cleaned


def per_million(field: str, label: str):
    @admin.display(description=f"{label} $/1M")
    def show(self, price: Price):
        value = getattr(price, field)
        return "—" if value is None else f"${nanos_per_token_to_price(value)}"

    return show


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    form = PriceForm
    list_display = [
        "model", "effective_from", "input_per_m", "output_per_m", "cache_write_5m_per_m",
        "cache_write_1h_per_m", "cache_read_per_m", "batch_discount_percent",
    ]  # fmt: skip
    list_filter = ["model__provider", "model"]
    list_select_related = ["model"]

    input_per_m = per_million("input_nanos", "input")
    output_per_m = per_million("output_nanos", "output")
    cache_write_5m_per_m = per_million("cache_write_5m_nanos", "cache write 5m")
    cache_write_1h_per_m = per_million("cache_write_1h_nanos", "cache write 1h")
    cache_read_per_m = per_million("cache_read_nanos", "cache read")

    def has_change_permission(self, request, obj=None) -> bool:
        # A price that calls were charged at is history: add a new row with a later effective date.
        if obj is not None and obj.calls.exists():
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.calls.exists():
            return False
        return super().has_delete_permission(request, obj)


# --- Thresholds --------------------------------------------------------------------------------


class ThresholdForm(forms.ModelForm):
    amount = forms.DecimalField(label="Amount (USD)", min_value=Decimal("0.01"), decimal_places=2)

    class Meta:
        model = Threshold
        fields = ["enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["amount"] = to_dollars(self.instance.amount_nanos)

    def clean_amount(self):
        nanos = to_nanos(self.cleaned_data["amount"], what="threshold")
        if Threshold.objects.filter(amount_nanos=nanos).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"there is already a {format_usd(nanos, places=2)} threshold")
        self.instance.amount_nanos = nanos
        return self.cleaned_data["amount"]


@admin.register(Threshold)
class ThresholdAdmin(admin.ModelAdmin):
    form = ThresholdForm
    list_display = ["__str__", "enabled"]
    list_editable = ["enabled"]
    list_display_links = ["__str__"]


# --- Periods -----------------------------------------------------------------------------------


class PeriodForm(forms.ModelForm):
    """Only the limit is editable, in dollars; ``save_model`` applies it through ``set_limit``."""

    limit = forms.DecimalField(
        label="Limit (USD)", min_value=0, decimal_places=9,
        help_text="Cannot go below what is already spent and reserved this period.",
    )  # fmt: skip

    class Meta:
        model = Period
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["limit"] = to_dollars(self.instance.limit_nanos)

    def clean_limit(self):
        limit = to_nanos(self.cleaned_data["limit"], what="limit")
        committed = self.instance.spent_nanos + self.instance.reserved_nanos
        if limit < committed:
            raise forms.ValidationError(
                f"The limit cannot go below {format_usd(committed)}: that much is already spent or reserved."
            )
        return self.cleaned_data["limit"]


class ModelUsageInline(ReadOnlyInline):
    model = ModelUsage
    fields = ["model_name", "provider", "calls", "input_tokens", "output_tokens", "cache_read_tokens", "cost"]
    readonly_fields = fields

    @admin.display(description="cost")
    def cost(self, row: ModelUsage) -> str:
        return format_usd(row.cost_nanos)


class MilestoneInline(ReadOnlyInline):
    model = Milestone
    fields = ["threshold", "reached_at", "spent", "prs_count", "executions_count"]
    readonly_fields = fields

    @admin.display(description="threshold")
    def threshold(self, m: Milestone) -> str:
        return format_usd(m.threshold_nanos, places=2)

    @admin.display(description="spent then")
    def spent(self, m: Milestone) -> str:
        return format_usd(m.spent_nanos)


def dollars(field: str, label: str):
    @admin.display(description=label)
    def show(self, period: Period) -> str:
        return format_usd(getattr(period, field))

    return show


@admin.register(Period)
class PeriodAdmin(admin.ModelAdmin):
    form = PeriodForm
    list_display = [
        "month_label", "limit_usd", "spent_usd", "reserved_usd", "remaining_usd", "bar",
        "executions_count", "prs_count", "merged_prs_count", "cost_per_merged_pr", "exhausted_at", "closed_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["month", "starts_at", "ends_at", "limit", "bar"]}),
        ("Money (from the ledger)", {"fields": ["spent_usd", "reserved_usd", "remaining_usd"]}),
        (
            "Counts",
            {"fields": ["executions_count", "succeeded_count", "failed_count", "prs_count"]},
        ),
        (
            "Pull requests it paid for",
            {"fields": ["open_prs_count", "merged_prs_count", "closed_prs_count", "cost_per_merged_pr"]},
        ),
        ("Events", {"fields": ["exhausted_at", "recapped_at", "closed_at"]}),
    ]
    readonly_fields = [
        "month", "starts_at", "ends_at", "bar", "spent_usd", "reserved_usd", "remaining_usd",
        "executions_count", "succeeded_count", "failed_count", "prs_count",
        "open_prs_count", "merged_prs_count", "closed_prs_count", "cost_per_merged_pr",
        "exhausted_at", "recapped_at", "closed_at",
    ]  # fmt: skip
    inlines = [ModelUsageInline, MilestoneInline]

    limit_usd = dollars("limit_nanos", "limit")
    spent_usd = dollars("spent_nanos", "spent")
    reserved_usd = dollars("reserved_nanos", "reserved")
    remaining_usd = dollars("remaining_nanos", "remaining")

    @admin.display(description="per merged PR")
    def cost_per_merged_pr(self, period: Period) -> str:
        nanos = outcomes.cost_per_merged_pr_nanos(period)
        return "—" if nanos is None else format_usd(nanos)

    @admin.display(description="month", ordering="starts_at")
    def month_label(self, period: Period) -> str:
        return f"{period.month:%Y-%m}" + (" (cut short)" if period.closed_at else "")

    @admin.display(description="spend")
    def bar(self, period: Period) -> str:
        return spend_bar(period)

    def has_add_permission(self, request) -> bool:
        return False  # periods open on demand

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: Period, form, change) -> None:
        # Never obj.save(): it would write back stale spent/reserved over concurrent charges.
        try:
            set_limit(obj, str(form.cleaned_data["limit"]))
        except LimitError as exc:
            messages.error(request, str(exc))


@admin.register(Milestone)
class MilestoneAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "period", "reached_at", "spent", "prs_count", "executions_count"]
    list_filter = ["period"]
    list_select_related = ["period"]

    @admin.display(description="spent then")
    def spent(self, m: Milestone) -> str:
        return format_usd(m.spent_nanos)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["pk", "label", "status", "amount", "charged", "held", "created_at", "expires_at"]
    list_filter = ["status"]
    show_full_result_count = False

    @admin.display(description="worst case")
    def amount(self, r: Reservation) -> str:
        return format_usd(r.amount_nanos)

    @admin.display(description="charged")
    def charged(self, r: Reservation) -> str:
        return format_usd(r.charged_nanos)

    @admin.display(description="still held")
    def held(self, r: Reservation) -> str:
        return format_usd(r.held_nanos)


@admin.register(Overrun)
class OverrunAdmin(ReadOnlyAdmin):
    """Calls a vendor billed past what the request allowed (docs/security.md)."""

    list_display = ["created_at", "period", "call", "usage", "charged", "excess"]
    list_filter = ["period"]
    list_select_related = ["period"]

    @admin.display(description="charged")
    def charged(self, o: Overrun) -> str:
        return format_usd(o.charged_nanos)

    @admin.display(description="past its reservation")
    def excess(self, o: Overrun) -> str:
        return format_usd(o.excess_nanos)


@admin.register(DailyUsage)
class DailyUsageAdmin(ReadOnlyAdmin):
    list_display = ["day", "period", "spent", "calls", "executions", "prs"]
    list_filter = ["period"]

    @admin.display(description="spent")
    def spent(self, row: DailyUsage) -> str:
        return format_usd(row.cost_nanos)


@admin.register(UsageReconciliation)
class UsageReconciliationAdmin(ReadOnlyAdmin):
    """Each comparison of the ledger with the vendors' usage reports (docs/reconciliation.md)."""

    list_display = ["ran_at", "month", "matched", "vendor_statuses"]
    list_filter = ["matched", "month"]
    fields = readonly_fields = ["month", "ran_at", "matched", "outcome"]

    @admin.display(description="vendors")
    def vendor_statuses(self, row: UsageReconciliation) -> str:
        return ", ".join(f"{vendor} {outcome['status']}" for vendor, outcome in row.vendors.items())

    @admin.display(description="what differs")
    def outcome(self, row: UsageReconciliation) -> str:
        return format_html_join(
            "", "<p>{}</p>", ((line,) for line in summary_lines(reconciliation_json(row)))
        )
