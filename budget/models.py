"""The budget's tables. Money columns are integer nanodollars; prices are nanodollars per token.

Rows here change only through ``budget.ledger``, ``budget.periods`` and ``budget.catalog``.
"""

from django.db import models
from django.db.models import Q

from budget.money import format_usd, nanos_per_token_to_price


class Provider(models.TextChoices):
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI = "openai", "OpenAI"


def vendor_name(provider: str) -> str:
    """The vendor as people write it ("OpenAI" for "openai"); any other text as it is."""
    return dict(Provider.choices).get(provider, provider)


class LanguageModel(models.Model):
    """A model id the product may call, with its lifecycle (retirement date and successor)."""

    name = models.CharField(max_length=100, unique=True, help_text="The vendor's model id.")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    retires_on = models.DateField(
        null=True, blank=True, help_text="The vendor's retirement date; after it the successor is used."
    )
    successor = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="predecessors"
    )
    accepts_sampling_params = models.BooleanField(
        default=True, help_text="Off for models that reject temperature / top_p (Sonnet 5.x)."
    )
    reasoning = models.BooleanField(
        default=False,
        help_text="A reasoning model (gpt-6-luna): it takes the step's reasoning effort, accepts "
        "temperature only with effort 'none', and bills its reasoning tokens as output.",
    )
    max_input_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A request that could have more input tokens is refused before it is sent (gpt-6-luna "
        "bills a dearer rate above 272,000). Blank: no limit.",
    )
    vendor_shutdown_on = models.DateField(
        null=True,
        blank=True,
        help_text="The shutdown date the vendor's model list publishes (OpenAI's shutdown_date), "
        "recorded by check_models.",
    )

    class Meta:
        ordering = ["provider", "name"]

    def __str__(self) -> str:
        return self.name


class Price(models.Model):
    """What one token costs from ``effective_from`` on. Old calls keep the cost they were charged."""

    model = models.ForeignKey(LanguageModel, on_delete=models.PROTECT, related_name="prices")
    effective_from = models.DateField()
    input_nanos = models.BigIntegerField(help_text="Nanodollars per input token.")
    output_nanos = models.BigIntegerField(help_text="Nanodollars per output token.")
    cache_write_5m_nanos = models.BigIntegerField(null=True, blank=True)
    cache_write_1h_nanos = models.BigIntegerField(null=True, blank=True)
    cache_read_nanos = models.BigIntegerField(null=True, blank=True)
    batch_discount_percent = models.PositiveSmallIntegerField(default=50)
    cache_read_increment_tokens = models.PositiveIntegerField(
        default=1,
        help_text="Cache reads are billed in multiples of this many tokens (OpenAI: 128). A batch "
        "price is exact when the batch cache-read rate times this is a whole nanodollar.",
    )

    class Meta:
        ordering = ["model__name", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="one_price_per_model_date"),
            models.CheckConstraint(
                condition=Q(input_nanos__gte=0) & Q(output_nanos__gte=0), name="price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(batch_discount_percent__lte=100), name="batch_discount_at_most_100"
            ),
            models.CheckConstraint(
                condition=Q(cache_read_increment_tokens__gte=1), name="cache_read_increment_at_least_1"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.model.name} from {self.effective_from}: "
            f"${nanos_per_token_to_price(self.input_nanos)} in / "
            f"${nanos_per_token_to_price(self.output_nanos)} out per 1M"
        )


class Period(models.Model):
    """A budget period: normally a calendar month in TIME_ZONE (``reset_budget`` can cut one short).

    ``spent + reserved + exposed <= limit`` is kept by ``budget.ledger``'s conditional updates.
    """

    month = models.DateField(help_text="The first day of the month this period belongs to.")
    starts_at = models.DateTimeField(unique=True)
    ends_at = models.DateTimeField()
    limit_nanos = models.BigIntegerField()
    spent_nanos = models.BigIntegerField(default=0)
    reserved_nanos = models.BigIntegerField(default=0)
    # What running work could still be billed beyond what it holds: a call held at a vendor's
    # estimate (Anthropic's count plus a margin) up to its byte-bound worst case. Not held, but
    # kept out of reach of new work, so a bill past the estimate never takes ``spent`` over the
    # limit however many executions run (``budget.ledger.reserve``).
    exposed_nanos = models.BigIntegerField(default=0, db_default=0)
    executions_count = models.PositiveIntegerField(default=0)
    succeeded_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    prs_count = models.PositiveIntegerField(default=0)
    # What became of the pull requests this period's executions opened (``budget.outcomes``).
    open_prs_count = models.PositiveIntegerField(default=0)
    merged_prs_count = models.PositiveIntegerField(default=0)
    closed_prs_count = models.PositiveIntegerField(default=0, help_text="Closed without merging.")
    # How the coder's answers landed (``budget.outcomes.record_edit_outcome``): executions whose
    # change applied on the first try, after a second look, or never (every allowed try failed).
    applied_first_try_count = models.PositiveIntegerField(default=0)
    applied_after_retry_count = models.PositiveIntegerField(default=0)
    edit_failures_count = models.PositiveIntegerField(default=0)
    # Follow-up commits on pull requests (``budget.outcomes``): those this period's executions
    # made, and this period's merged pull requests that had one before their merge.
    # (``db_default``: rows written by code that predates them, as a migration test does, count 0.)
    revisions_count = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Follow-up commits made."
    )
    merged_after_revision_count = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Merged pull requests that had a follow-up commit."
    )
    exhausted_at = models.DateTimeField(null=True, blank=True)
    recapped_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(limit_nanos__gte=0) & Q(spent_nanos__gte=0) & Q(reserved_nanos__gte=0),
                name="period_money_not_negative",
            ),
            models.CheckConstraint(condition=Q(exposed_nanos__gte=0), name="period_exposure_not_negative"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="period_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} ({format_usd(self.spent_nanos, places=2)} of {format_usd(self.limit_nanos, places=2)})"

    @property
    def remaining_nanos(self) -> int:
        return max(self.limit_nanos - self.spent_nanos - self.reserved_nanos, 0)


class Reservation(models.Model):
    """Money held for one execution's worst case until its calls are charged or it is released."""

    class Status(models.TextChoices):
        OPEN = "open"
        RELEASED = "released"
        EXPIRED = "expired"

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="reservations")
    label = models.CharField(max_length=200, blank=True)
    amount_nanos = models.BigIntegerField(help_text="The worst case held at the start.")
    held_nanos = models.BigIntegerField(help_text="Still held: amount less what charges took.")
    charged_nanos = models.BigIntegerField(default=0)
    exposed_nanos = models.BigIntegerField(
        default=0, db_default=0, help_text="Its part of the period's exposure (Period.exposed_nanos)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(held_nanos__gte=0) & Q(charged_nanos__gte=0), name="reservation_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(exposed_nanos__gte=0), name="reservation_exposure_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"reservation {self.pk} ({self.status}, {format_usd(self.amount_nanos)})"


class Threshold(models.Model):
    """A spend level worth announcing (seeded $5, $10, $15)."""

    amount_nanos = models.BigIntegerField(unique=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["amount_nanos"]
        constraints = [models.CheckConstraint(condition=Q(amount_nanos__gt=0), name="threshold_positive")]

    def __str__(self) -> str:
        return format_usd(self.amount_nanos, places=2)


class Milestone(models.Model):
    """A threshold crossed in a period. The unique constraint is what makes announcing exactly-once."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="milestones")
    threshold_nanos = models.BigIntegerField()
    reached_at = models.DateTimeField()
    spent_nanos = models.BigIntegerField(help_text="The period's spend when it was crossed.")
    prs_count = models.PositiveIntegerField(default=0)
    executions_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["period", "threshold_nanos"]
        constraints = [
            models.UniqueConstraint(fields=["period", "threshold_nanos"], name="one_milestone_per_threshold")
        ]

    def __str__(self) -> str:
        return f"{format_usd(self.threshold_nanos, places=2)} in {self.period.month:%Y-%m}"


class ModelUsage(models.Model):
    """Running totals per (period, model), kept up to date by every charge."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="model_usage")
    model_name = models.CharField(max_length=100)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    calls = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_5m_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    cost_nanos = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["period", "model_name"]
        constraints = [
            models.UniqueConstraint(fields=["period", "model_name"], name="one_usage_row_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.model_name}: {format_usd(self.cost_nanos)}"


class DailyUsage(models.Model):
    """Running totals per (period, day in TIME_ZONE), kept up to date by charges and outcomes."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    cost_nanos = models.BigIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    executions = models.PositiveIntegerField(default=0)
    prs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["period", "day"]
        constraints = [models.UniqueConstraint(fields=["period", "day"], name="one_usage_row_per_day")]

    def __str__(self) -> str:
        return f"{self.day}: {format_usd(self.cost_nanos)}"


class Overrun(models.Model):
    """A call the vendor billed for more than the request allowed: charged all the same (it is
    what was billed), and shown as a warning wherever the period's figures are (``budget.overruns``)."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="overruns")
    call = models.CharField(max_length=300, help_text="Which call: step, execution, model, request id.")
    usage = models.CharField(max_length=300, help_text="What the vendor reported, against what was allowed.")
    charged_nanos = models.BigIntegerField(help_text="The call's charge.")
    excess_nanos = models.BigIntegerField(help_text="How much the charge exceeded what its reservation held.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"overrun of {self.call}"


class UsageReconciliation(models.Model):
    """One comparison of the ledger's model calls with the vendors' own usage reports, per UTC day,
    model and mode (``budget.reconciliation``). The newest row is what status, the API and the
    dashboard show."""

    month = models.DateField(help_text="The first day of the month compared (UTC days).")
    ran_at = models.DateTimeField()
    matched = models.BooleanField(
        help_text="Every configured vendor was read, and no closed day differs past the tolerance."
    )
    vendors = models.JSONField(
        default=dict, help_text="Per vendor: matched, differs, failed or off, and why."
    )
    differences = models.JSONField(
        default=list, help_text="Each day, model and mode whose tokens differ: both counts, and the value."
    )

    class Meta:
        ordering = ["-ran_at", "-pk"]

    def __str__(self) -> str:
        return f"usage reconciliation of {self.month:%Y-%m} at {self.ran_at:%Y-%m-%d %H:%M} ({'matched' if self.matched else 'differs'})"
