"""The seed's pipeline: Claude Sonnet 4.5 analyses, GPT-4o mini writes the code."""

from django.db import migrations

STEPS = [("analysis", "claude-sonnet-4-5", 2048), ("codegen", "gpt-4o-mini", 8192)]


def seed(apps, schema_editor):
    StepConfig = apps.get_model("executions", "StepConfig")
    for step, model_name, max_tokens in STEPS:
        StepConfig.objects.get_or_create(step=step, defaults={"model_name": model_name, "max_tokens": max_tokens})


class Migration(migrations.Migration):
    dependencies = [("executions", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
