"""Reasoning models (they take a reasoning effort and bill reasoning as output) and a per-model
input limit (requests that could pass it are refused before they are sent)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("budget", "0009_price_cache_read_increment")]
    operations = [
        migrations.AddField(
            model_name="languagemodel",
            name="reasoning",
            field=models.BooleanField(
                default=False,
                help_text="A reasoning model (gpt-6-luna): it takes the step's reasoning effort, accepts "
                "temperature only with effort 'none', and bills its reasoning tokens as output.",
            ),
        ),
        migrations.AddField(
            model_name="languagemodel",
            name="max_input_tokens",
            field=models.PositiveIntegerField(
                null=True,
                blank=True,
                help_text="A request that could have more input tokens is refused before it is sent "
                "(gpt-6-luna bills a dearer rate above 272,000). Blank: no limit.",
            ),
        ),
    ]
