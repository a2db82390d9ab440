"""The JSON shapes of the usage endpoints. They render dicts built from the ledger's running totals
(``budget.selectors``), and they are what the OpenAPI schema documents, field by field.

Money is a decimal string in US dollars (``"14.982675"``), never a float.
"""

from rest_framework import serializers


def money(help_text: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(help_text=f"{help_text} Decimal string in US dollars.", **kwargs)


class ModelTotalsSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The model id that was actually called.")
    provider = serializers.CharField(help_text="anthropic or openai.")
    calls = serializers.IntegerField(help_text="Paid calls to this model.")
    input_tokens = serializers.IntegerField(help_text="Input tokens billed at the input rate (no cache).")
    output_tokens = serializers.IntegerField(help_text="Output tokens.")
    cache_read_tokens = serializers.IntegerField(help_text="Input tokens read from the prompt cache.")
    cache_write_5m_tokens = serializers.IntegerField(help_text="Tokens written to the 5-minute cache.")
    cache_write_1h_tokens = serializers.IntegerField(help_text="Tokens written to the 1-hour cache.")
    cost = money("What these calls were charged.")


class MilestoneSerializer(serializers.Serializer):
    threshold = money("The spend threshold crossed.")
    reached_at = serializers.DateTimeField(help_text="When the charge that crossed it was recorded.")
    prs = serializers.IntegerField(help_text="Pull requests opened in the period by then.")


class InBatchesSerializer(serializers.Serializer):
    executions = serializers.IntegerField(help_text="Executions waiting in vendor batches (batch mode).")
    held = money("What their reservations still hold.")


class ExecutionCostSerializer(serializers.Serializer):
    executions = serializers.IntegerField(help_text="Finished executions measured (at most COSTS_WINDOW).")
    mean = money("What one of them was charged on average, to the nearest nanodollar.")
    p90 = money("90 % of them were charged at most this (nearest rank).")
    this_month = serializers.BooleanField(
        help_text="False when none finished this period yet: the last ones of earlier periods are measured."
    )


class ReconciliationVendorSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["matched", "differs", "failed", "off"])
    detail = serializers.CharField(help_text="Why it failed or is off (keys masked); empty otherwise.")


class TokenCountSerializer(serializers.Serializer):
    vendor = serializers.IntegerField(help_text="Tokens the vendor's usage report counted.")
    ledger = serializers.IntegerField(help_text="Tokens of the calls the ledger recorded.")
    difference = serializers.IntegerField(help_text="vendor - ledger.")


class ReconciliationDifferenceSerializer(serializers.Serializer):
    vendor = serializers.CharField(help_text="anthropic or openai.")
    day = serializers.DateField(help_text="The UTC day (the vendors' buckets are UTC days).")
    model = serializers.CharField(help_text="The model, without the vendor's snapshot date.")
    mode = serializers.ChoiceField(choices=["standard", "batch"])
    tokens = serializers.DictField(
        child=TokenCountSerializer(), help_text="Per class: input, cached, cache_write, output."
    )
    recorded_calls = serializers.IntegerField(help_text="Calls the ledger recorded that day for the model.")
    value = money(
        "What the vendor's count costs more than the ledger's (negative: less) at that day's price; "
        "null for a model without a price.",
        allow_null=True,
    )
    over_tolerance = serializers.BooleanField(
        help_text="Past RECONCILE_TOLERANCE_PERCENT in a class, or vendor tokens with no recorded call."
    )
    unrecorded = serializers.BooleanField(help_text="The vendor counted tokens and the ledger has no call.")
    provisional = serializers.BooleanField(
        help_text="The day is not closed yet (reports lag): never announced."
    )


class ReconciliationSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM (UTC days).")
    ran_at = serializers.DateTimeField()
    matched = serializers.BooleanField(
        help_text="Every configured vendor was read and no closed day differs past the tolerance."
    )
    vendors = serializers.DictField(child=ReconciliationVendorSerializer(), help_text="anthropic, openai.")
    differences = ReconciliationDifferenceSerializer(many=True)


class RepositoryFiguresSerializer(serializers.Serializer):
    repository = serializers.CharField(help_text="owner/name on GitHub, or a local repository's path.")
    kind = serializers.ChoiceField(choices=["github", "local"], help_text="github or local.")
    spent = money("What its executions were charged in the period.")
    executions = serializers.IntegerField(help_text="Its executions started in the period.")
    prs = serializers.IntegerField(help_text="Pull requests its executions opened.")
    merged_prs = serializers.IntegerField(help_text="Of those, merged so far.")
    cost_per_merged_pr = money(
        "spent / merged_prs, to the nearest nanodollar; null before its first merged pull request.",
        allow_null=True,
    )


REPOSITORIES_HELP = (
    "The period's figures per repository, costliest first; they add up to the period's own (one "
    "budget over all of them). With ?repository=, that repository's only."
)


def edit_outcome_fields() -> tuple[serializers.IntegerField, ...]:
    """The month's three edit counts (``budget.outcomes.edit_outcomes``), as both usage endpoints
    carry them."""
    return (
        serializers.IntegerField(help_text="Executions whose coder's change applied on its first answer."),
        serializers.IntegerField(
            help_text="Executions whose change applied after the coder was asked again (CODEGEN_REFLECTIONS)."
        ),
        serializers.IntegerField(
            help_text="Executions that failed because no answer of the coder applied (every try it was "
            "allowed failed, or the next one did not fit what was reserved)."
        ),
    )


class UsageCurrentSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="The period's month, YYYY-MM.")
    starts_at = serializers.DateTimeField(help_text="The period's first instant.")
    ends_at = serializers.DateTimeField(help_text="The instant the period ends (exclusive).")
    limit = money("The period's budget.")
    spent = money("What calls have been charged.")
    reserved = money("Held for executions in flight (their worst case, less what they were charged).")
    remaining = money("limit - spent - reserved, never below zero.")
    percent = serializers.CharField(
        help_text="spent as a percentage of limit, one decimal place, e.g. '42.5'."
    )
    executions = serializers.IntegerField(help_text="Executions started in the period.")
    succeeded = serializers.IntegerField(help_text="Executions that succeeded.")
    failed = serializers.IntegerField(help_text="Executions that failed.")
    prs = serializers.IntegerField(help_text="Pull requests opened.")
    cost_per_pr = money("spent / prs; null before the first pull request.", allow_null=True)
    merged_prs = serializers.IntegerField(help_text="Its pull requests merged so far.")
    closed_prs = serializers.IntegerField(help_text="Its pull requests closed without being merged.")
    open_prs = serializers.IntegerField(help_text="Its pull requests still open (awaiting review).")
    cost_per_merged_pr = money(
        "spent / merged_prs, to the nearest nanodollar; null before the first merged pull request.",
        allow_null=True,
    )
    applied_first_try, applied_after_retry, edit_failures = edit_outcome_fields()
    revisions = serializers.IntegerField(
        help_text="Follow-up commits its executions made on pull requests (after failed checks or a review)."
    )
    merged_after_revision = serializers.IntegerField(
        help_text="Of its merged pull requests, those merged after at least one follow-up commit."
    )
    models = ModelTotalsSerializer(many=True, help_text="Tokens and dollars per model, costliest first.")
    milestones = MilestoneSerializer(many=True, help_text="Thresholds crossed this period, with dates.")
    next_milestone = money("The next enabled threshold above spent; null when none is left.", allow_null=True)
    pace = serializers.ChoiceField(
        choices=["ahead", "on", "behind"], help_text="Spend against the even-spend line: ahead, on or behind."
    )
    even_spend = money("What an evenly spent budget would have spent by now.")
    projected_spend = money("Month-end spend at the pace so far (capped at the limit).")
    exhausted = serializers.BooleanField(help_text="True once the next execution no longer fitted.")
    in_batches = InBatchesSerializer(help_text="Executions waiting in vendor batches, and what they hold.")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="One line per call a vendor billed past what the request allowed (the call, its usage).",
    )
    cost_per_execution = ExecutionCostSerializer(
        allow_null=True,
        help_text="Measured: what the period's last finished executions were charged; null before any finished.",
    )
    reconciliation = ReconciliationSerializer(
        allow_null=True,
        help_text="The last comparison of the ledger with the vendors' usage reports; null before the first.",
    )
    repositories = RepositoryFiguresSerializer(many=True, help_text=REPOSITORIES_HELP)


class PeriodRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The period's id.")
    month = serializers.CharField(help_text="YYYY-MM.")
    starts_at = serializers.DateTimeField(help_text="The period's first instant.")
    ends_at = serializers.DateTimeField(help_text="The instant the period ends (exclusive).")
    current = serializers.BooleanField(help_text="True for the period open now.")
    limit = money("The period's budget.")
    spent = money("What calls were charged.")
    reserved = money("Held for executions in flight.")
    remaining = money("limit - spent - reserved, never below zero.")
    percent = serializers.CharField(help_text="spent as a percentage of limit, one decimal place.")
    executions = serializers.IntegerField(help_text="Executions started.")
    succeeded = serializers.IntegerField(help_text="Executions that succeeded.")
    failed = serializers.IntegerField(help_text="Executions that failed.")
    prs = serializers.IntegerField(help_text="Pull requests opened.")
    cost_per_pr = money("spent / prs; null without pull requests.", allow_null=True)
    merged_prs = serializers.IntegerField(help_text="Its pull requests merged so far.")
    closed_prs = serializers.IntegerField(help_text="Its pull requests closed without being merged.")
    open_prs = serializers.IntegerField(help_text="Its pull requests still open (awaiting review).")
    cost_per_merged_pr = money(
        "spent / merged_prs, to the nearest nanodollar; null before the first merged pull request.",
        allow_null=True,
    )
    applied_first_try, applied_after_retry, edit_failures = edit_outcome_fields()
    revisions = serializers.IntegerField(
        help_text="Follow-up commits its executions made on pull requests (after failed checks or a review)."
    )
    merged_after_revision = serializers.IntegerField(
        help_text="Of its merged pull requests, those merged after at least one follow-up commit."
    )
    exhausted = serializers.BooleanField(help_text="True once the budget ran out in this period.")
    repositories = RepositoryFiguresSerializer(many=True, help_text=REPOSITORIES_HELP)


class DailyRowSerializer(serializers.Serializer):
    day = serializers.DateField(help_text="The day, in the configured time zone.")
    spent = money("What calls were charged that day.")
    cumulative = money("Spent in the month up to and including this day.")
    calls = serializers.IntegerField(help_text="Paid model calls.")
    executions = serializers.IntegerField(help_text="Executions started.")
    prs = serializers.IntegerField(help_text="Pull requests opened.")


class DailyUsageSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM.")
    spent = money("The month's total.")
    days = DailyRowSerializer(many=True, help_text="One row per day with activity, oldest first.")


class ModelUsageSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM.")
    spent = money("The month's total over all models.")
    models = ModelTotalsSerializer(many=True, help_text="One row per model, costliest first.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was wrong, in one line.")
