"""Seed the model catalog, prices (USD per 1M tokens, stored as nanodollars per token) and thresholds."""

import datetime as dt

from django.db import migrations

EFFECTIVE = dt.date(2025, 1, 1)

# name, provider, retires_on, successor, accepts sampling params,
# (input, output, cache write 5m, cache write 1h, cache read) in nanodollars per token
MODELS = [
    ("claude-sonnet-5-5", "anthropic", None, None, False, (2000, 10000, 2500, 4000, 200)),
    ("claude-sonnet-4-5", "anthropic", dt.date(2026, 11, 30), "claude-sonnet-5-5", True,
     (3000, 15000, 3750, 6000, 300)),
    ("claude-haiku-4-5", "anthropic", None, None, True, (1000, 5000, 1250, 2000, 100)),
    ("gpt-4o-mini", "openai", dt.date(2027, 1, 14), None, True, (150, 600, None, None, 75)),
]

THRESHOLDS_DOLLARS = (5, 10, 15)


def seed(apps, schema_editor):
    LanguageModel = apps.get_model("budget", "LanguageModel")
    Price = apps.get_model("budget", "Price")
    Threshold = apps.get_model("budget", "Threshold")
    for name, provider, retires_on, _successor, sampling, rates in MODELS:
        model, _ = LanguageModel.objects.update_or_create(
            name=name,
            defaults={"provider": provider, "retires_on": retires_on, "accepts_sampling_params": sampling},
        )
        inp, out, w5, w1, read = rates
        Price.objects.update_or_create(
            model=model,
            effective_from=EFFECTIVE,
            defaults={
                "input_nanos": inp, "output_nanos": out, "cache_write_5m_nanos": w5,
                "cache_write_1h_nanos": w1, "cache_read_nanos": read, "batch_discount_percent": 50,
            },
        )
    for name, _p, _r, successor, _s, _rates in MODELS:
        if successor:
            LanguageModel.objects.filter(name=name).update(
                successor=LanguageModel.objects.get(name=successor)
            )
    for dollars in THRESHOLDS_DOLLARS:
        Threshold.objects.get_or_create(amount_nanos=dollars * 1_000_000_000)


class Migration(migrations.Migration):
    dependencies = [("budget", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
