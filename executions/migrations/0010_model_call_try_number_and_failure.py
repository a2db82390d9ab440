from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0009_execution_plan_definitions"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelcall",
            name="try_number",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="Which try of its step this call was (the coder is asked again when an answer fails).",
            ),
        ),
        migrations.AddField(
            model_name="modelcall",
            name="failure",
            field=models.TextField(
                blank=True,
                help_text="Why this call's answer could not be used (parse, apply or syntax), one line each.",
            ),
        ),
    ]
