from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0008_repositories"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="plan_definitions",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The definitions the plan named to change or read (file::Qualified.name): a file too "
                "large to show whole was shown to the coder as an excerpt holding them.",
            ),
        ),
    ]
