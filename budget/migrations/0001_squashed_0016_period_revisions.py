"""The budget app's schema and seed as of 0016, in one migration (``squashmigrations`` by hand).

A new database runs this instead of the sixteen it replaces; a database that has run them goes on
from 0016 as before. The PL/pgSQL ledger functions that 0003-0006 created and 0008 dropped are
left out: the ledger has been plain ORM since 0008. The seed is the catalog as 0016 left it:
every model, price and successor (gpt-6-luna after gpt-4o-mini, claude-sonnet-5-5 after
claude-sonnet-4-5) and the $5, $10 and $15 thresholds. Keep the replaced files until a release
has shipped this one; then they, and ``replaces``, can go.
"""

import datetime as dt

import django.db.models.deletion
from django.db import migrations, models

EFFECTIVE = dt.date(2025, 1, 1)
LUNA_PRICED_FROM = dt.date(2026, 12, 1)

# name, provider, retires_on, successor, accepts sampling params, reasoning, max input tokens,
# cache-read increment (tokens), price effective from,
# (input, output, cache write 5m, cache write 1h, cache read) in nanodollars per token
MODELS = [
    ("claude-sonnet-5-5", "anthropic", None, None, False, False, None, 1, EFFECTIVE,
     (2000, 10000, 2500, 4000, 200)),
    ("claude-sonnet-4-5", "anthropic", dt.date(2026, 11, 30), "claude-sonnet-5-5", True, False, None, 1, EFFECTIVE,
     (3000, 15000, 3750, 6000, 300)),
    ("claude-haiku-4-5", "anthropic", None, None, True, False, None, 1, EFFECTIVE, (1000, 5000, 1250, 2000, 100)),
    ("gpt-4o-mini", "openai", dt.date(2027, 1, 14), "gpt-6-luna", True, False, None, 128, EFFECTIVE,
     (150, 600, None, None, 75)),
    ("gpt-6-luna", "openai", None, None, True, True, 272_000, 1, LUNA_PRICED_FROM, (100, 500, 125, None, 10)),
]  # fmt: skip

THRESHOLDS_DOLLARS = (5, 10, 15)


def seed(apps, schema_editor):
    LanguageModel = apps.get_model("budget", "LanguageModel")
    Price = apps.get_model("budget", "Price")
    Threshold = apps.get_model("budget", "Threshold")
    for (
        name,
        provider,
        retires_on,
        _successor,
        sampling,
        reasoning,
        max_input,
        increment,
        since,
        rates,
    ) in MODELS:
        model, _ = LanguageModel.objects.update_or_create(
            name=name,
            defaults={
                "provider": provider,
                "retires_on": retires_on,
                "accepts_sampling_params": sampling,
                "reasoning": reasoning,
                "max_input_tokens": max_input,
            },
        )
        inp, out, w5, w1, read = rates
        Price.objects.update_or_create(
            model=model,
            effective_from=since,
            defaults={
                "input_nanos": inp, "output_nanos": out, "cache_write_5m_nanos": w5,
                "cache_write_1h_nanos": w1, "cache_read_nanos": read, "batch_discount_percent": 50,
                "cache_read_increment_tokens": increment,
            },
        )  # fmt: skip
    for name, _p, _r, successor, *_rest in MODELS:
        if successor:
            LanguageModel.objects.filter(name=name).update(
                successor=LanguageModel.objects.get(name=successor)
            )
    for dollars in THRESHOLDS_DOLLARS:
        Threshold.objects.get_or_create(amount_nanos=dollars * 1_000_000_000)


class Migration(migrations.Migration):
    replaces = [
        ("budget", "0001_initial"),
        ("budget", "0002_seed_catalog"),
        ("budget", "0003_ledger_functions"),
        ("budget", "0004_charge_updates_in_place"),
        ("budget", "0005_charge_locks_the_period_first"),
        ("budget", "0006_reserve_waits_for_the_flush_unlocked"),
        ("budget", "0007_overruns"),
        ("budget", "0008_drop_ledger_functions"),
        ("budget", "0009_price_cache_read_increment"),
        ("budget", "0010_language_model_reasoning_and_input_limit"),
        ("budget", "0011_gpt_6_luna_succeeds_gpt_4o_mini"),
        ("budget", "0012_language_model_vendor_shutdown_on"),
        ("budget", "0013_period_pr_outcomes"),
        ("budget", "0014_usage_reconciliation"),
        ("budget", "0015_period_edit_outcomes"),
        ("budget", "0016_period_revisions"),
    ]

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="UsageReconciliation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(help_text="The first day of the month compared (UTC days).")),
                ("ran_at", models.DateTimeField()),
                (
                    "matched",
                    models.BooleanField(
                        help_text="Every configured vendor was read, and no closed day differs past the tolerance."
                    ),
                ),
                (
                    "vendors",
                    models.JSONField(
                        default=dict, help_text="Per vendor: matched, differs, failed or off, and why."
                    ),
                ),
                (
                    "differences",
                    models.JSONField(
                        default=list,
                        help_text="Each day, model and mode whose tokens differ: both counts, and the value.",
                    ),
                ),
            ],
            options={
                "ordering": ["-ran_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="LanguageModel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(help_text="The vendor's model id.", max_length=100, unique=True)),
                (
                    "provider",
                    models.CharField(
                        choices=[("anthropic", "Anthropic"), ("openai", "OpenAI")], max_length=20
                    ),
                ),
                (
                    "retires_on",
                    models.DateField(
                        blank=True,
                        help_text="The vendor's retirement date; after it the successor is used.",
                        null=True,
                    ),
                ),
                (
                    "accepts_sampling_params",
                    models.BooleanField(
                        default=True, help_text="Off for models that reject temperature / top_p (Sonnet 5.x)."
                    ),
                ),
                (
                    "reasoning",
                    models.BooleanField(
                        default=False,
                        help_text="A reasoning model (gpt-6-luna): it takes the step's reasoning effort, accepts temperature only with effort 'none', and bills its reasoning tokens as output.",
                    ),
                ),
                (
                    "max_input_tokens",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="A request that could have more input tokens is refused before it is sent (gpt-6-luna bills a dearer rate above 272,000). Blank: no limit.",
                        null=True,
                    ),
                ),
                (
                    "vendor_shutdown_on",
                    models.DateField(
                        blank=True,
                        help_text="The shutdown date the vendor's model list publishes (OpenAI's shutdown_date), recorded by check_models.",
                        null=True,
                    ),
                ),
                (
                    "successor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="predecessors",
                        to="budget.languagemodel",
                    ),
                ),
            ],
            options={
                "ordering": ["provider", "name"],
            },
        ),
        migrations.CreateModel(
            name="Period",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(help_text="The first day of the month this period belongs to.")),
                ("starts_at", models.DateTimeField(unique=True)),
                ("ends_at", models.DateTimeField()),
                ("limit_nanos", models.BigIntegerField()),
                ("spent_nanos", models.BigIntegerField(default=0)),
                ("reserved_nanos", models.BigIntegerField(default=0)),
                ("executions_count", models.PositiveIntegerField(default=0)),
                ("succeeded_count", models.PositiveIntegerField(default=0)),
                ("failed_count", models.PositiveIntegerField(default=0)),
                ("prs_count", models.PositiveIntegerField(default=0)),
                ("open_prs_count", models.PositiveIntegerField(default=0)),
                ("merged_prs_count", models.PositiveIntegerField(default=0)),
                (
                    "closed_prs_count",
                    models.PositiveIntegerField(default=0, help_text="Closed without merging."),
                ),
                ("applied_first_try_count", models.PositiveIntegerField(default=0)),
                ("applied_after_retry_count", models.PositiveIntegerField(default=0)),
                ("edit_failures_count", models.PositiveIntegerField(default=0)),
                (
                    "revisions_count",
                    models.PositiveIntegerField(db_default=0, default=0, help_text="Follow-up commits made."),
                ),
                (
                    "merged_after_revision_count",
                    models.PositiveIntegerField(
                        db_default=0, default=0, help_text="Merged pull requests that had a follow-up commit."
                    ),
                ),
                ("exhausted_at", models.DateTimeField(blank=True, null=True)),
                ("recapped_at", models.DateTimeField(blank=True, null=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["-starts_at"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("limit_nanos__gte", 0), ("spent_nanos__gte", 0), ("reserved_nanos__gte", 0)
                        ),
                        name="period_money_not_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("ends_at__gt", models.F("starts_at"))), name="period_not_empty"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Overrun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "call",
                    models.CharField(
                        help_text="Which call: step, execution, model, request id.", max_length=300
                    ),
                ),
                (
                    "usage",
                    models.CharField(
                        help_text="What the vendor reported, against what was allowed.", max_length=300
                    ),
                ),
                ("charged_nanos", models.BigIntegerField(help_text="The call's charge.")),
                (
                    "excess_nanos",
                    models.BigIntegerField(
                        help_text="How much the charge exceeded what its reservation held."
                    ),
                ),
                ("created_at", models.DateTimeField()),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="overruns",
                        to="budget.period",
                    ),
                ),
            ],
            options={
                "ordering": ["created_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="Threshold",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("amount_nanos", models.BigIntegerField(unique=True)),
                ("enabled", models.BooleanField(default=True)),
            ],
            options={
                "ordering": ["amount_nanos"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount_nanos__gt", 0)), name="threshold_positive"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ModelUsage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("model_name", models.CharField(max_length=100)),
                (
                    "provider",
                    models.CharField(
                        choices=[("anthropic", "Anthropic"), ("openai", "OpenAI")], max_length=20
                    ),
                ),
                ("calls", models.PositiveIntegerField(default=0)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("cache_read_tokens", models.BigIntegerField(default=0)),
                ("cache_write_5m_tokens", models.BigIntegerField(default=0)),
                ("cache_write_1h_tokens", models.BigIntegerField(default=0)),
                ("cost_nanos", models.BigIntegerField(default=0)),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="model_usage",
                        to="budget.period",
                    ),
                ),
            ],
            options={
                "ordering": ["period", "model_name"],
                "constraints": [
                    models.UniqueConstraint(fields=("period", "model_name"), name="one_usage_row_per_model")
                ],
            },
        ),
        migrations.CreateModel(
            name="Milestone",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("threshold_nanos", models.BigIntegerField()),
                ("reached_at", models.DateTimeField()),
                ("spent_nanos", models.BigIntegerField(help_text="The period's spend when it was crossed.")),
                ("prs_count", models.PositiveIntegerField(default=0)),
                ("executions_count", models.PositiveIntegerField(default=0)),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="milestones",
                        to="budget.period",
                    ),
                ),
            ],
            options={
                "ordering": ["period", "threshold_nanos"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("period", "threshold_nanos"), name="one_milestone_per_threshold"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="DailyUsage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("cost_nanos", models.BigIntegerField(default=0)),
                ("calls", models.PositiveIntegerField(default=0)),
                ("executions", models.PositiveIntegerField(default=0)),
                ("prs", models.PositiveIntegerField(default=0)),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="daily_usage",
                        to="budget.period",
                    ),
                ),
            ],
            options={
                "ordering": ["period", "day"],
                "constraints": [
                    models.UniqueConstraint(fields=("period", "day"), name="one_usage_row_per_day")
                ],
            },
        ),
        migrations.CreateModel(
            name="Price",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("effective_from", models.DateField()),
                ("input_nanos", models.BigIntegerField(help_text="Nanodollars per input token.")),
                ("output_nanos", models.BigIntegerField(help_text="Nanodollars per output token.")),
                ("cache_write_5m_nanos", models.BigIntegerField(blank=True, null=True)),
                ("cache_write_1h_nanos", models.BigIntegerField(blank=True, null=True)),
                ("cache_read_nanos", models.BigIntegerField(blank=True, null=True)),
                ("batch_discount_percent", models.PositiveSmallIntegerField(default=50)),
                (
                    "cache_read_increment_tokens",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="Cache reads are billed in multiples of this many tokens (OpenAI: 128). A batch price is exact when the batch cache-read rate times this is a whole nanodollar.",
                    ),
                ),
                (
                    "model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="prices",
                        to="budget.languagemodel",
                    ),
                ),
            ],
            options={
                "ordering": ["model__name", "-effective_from"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("model", "effective_from"), name="one_price_per_model_date"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("input_nanos__gte", 0), ("output_nanos__gte", 0)),
                        name="price_not_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("batch_discount_percent__lte", 100)),
                        name="batch_discount_at_most_100",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("cache_read_increment_tokens__gte", 1)),
                        name="cache_read_increment_at_least_1",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Reservation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("label", models.CharField(blank=True, max_length=200)),
                ("amount_nanos", models.BigIntegerField(help_text="The worst case held at the start.")),
                (
                    "held_nanos",
                    models.BigIntegerField(help_text="Still held: amount less what charges took."),
                ),
                ("charged_nanos", models.BigIntegerField(default=0)),
                (
                    "status",
                    models.CharField(
                        choices=[("open", "Open"), ("released", "Released"), ("expired", "Expired")],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reservations",
                        to="budget.period",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["status", "expires_at"], name="budget_rese_status_bc1bcf_idx")
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("held_nanos__gte", 0), ("charged_nanos__gte", 0)),
                        name="reservation_not_negative",
                    )
                ],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
