"""gpt-6-luna, a reasoning model, succeeds gpt-4o-mini when it shuts down on 2027-01-14.

OpenAI's prices per 1M tokens (recorded 2026-12-01): input $0.10, cached input $0.01, cache writes
$0.125, output $0.50, stored as nanodollars per token. Above 272K input tokens the whole request
bills at 2x input/cache and 1.5x output: requests that could pass 272,000 input tokens are refused
before they are sent (``max_input_tokens``), so the standard rates stay a true upper bound.
"""

import datetime as dt

from django.db import migrations

LUNA = "gpt-6-luna"
LUNA_PRICED_FROM = dt.date(2026, 12, 1)
LONG_CONTEXT_FROM = 272_000


def check_constraints_now(schema_editor):
    """PostgreSQL defers foreign-key checks to the end of the transaction; a later migration in the
    same transaction (a test's, or ``migrate`` back and forth) cannot ALTER the table while they
    are pending. Run them now."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


def add_luna(apps, schema_editor):
    LanguageModel = apps.get_model("budget", "LanguageModel")
    Price = apps.get_model("budget", "Price")
    luna, _ = LanguageModel.objects.update_or_create(
        name=LUNA,
        defaults={
            "provider": "openai",
            "reasoning": True,
            "accepts_sampling_params": True,  # temperature, with effort "none" only
            "max_input_tokens": LONG_CONTEXT_FROM,
        },
    )
    Price.objects.update_or_create(
        model=luna,
        effective_from=LUNA_PRICED_FROM,
        defaults={
            "input_nanos": 100, "output_nanos": 500, "cache_read_nanos": 10,
            "cache_write_5m_nanos": 125, "cache_write_1h_nanos": None, "batch_discount_percent": 50,
        },
    )  # fmt: skip
    LanguageModel.objects.filter(name="gpt-4o-mini").update(retires_on=dt.date(2027, 1, 14), successor=luna)
    check_constraints_now(schema_editor)


def remove_luna(apps, schema_editor):
    LanguageModel = apps.get_model("budget", "LanguageModel")
    Price = apps.get_model("budget", "Price")
    LanguageModel.objects.filter(name="gpt-4o-mini", successor__name=LUNA).update(successor=None)
    # Refused (the price is PROTECTed) once a call was charged at it: that history stays.
    Price.objects.filter(model__name=LUNA).delete()
    LanguageModel.objects.filter(name=LUNA).delete()
    check_constraints_now(schema_editor)


class Migration(migrations.Migration):
    # Data only; the fields come in 0010.
    dependencies = [("budget", "0010_language_model_reasoning_and_input_limit")]
    operations = [migrations.RunPython(add_luna, remove_luna)]
