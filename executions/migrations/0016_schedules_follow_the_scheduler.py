"""The scheduler moved (``executions.scheduler`` → ``executions.scheduling.scheduler``): schedules an
install made with ``setup_schedules`` before the move name the new path, so the worker finds them."""

from django.db import migrations

MOVED = {"executions.scheduler.run_next_execution": "executions.scheduling.scheduler.run_next_execution"}


def forward(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVED.items():
        Schedule.objects.filter(func=old).update(func=new)


def backward(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVED.items():
        Schedule.objects.filter(func=new).update(func=old)


class Migration(migrations.Migration):
    dependencies = [("executions", "0015_analysis_lookups"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(forward, backward)]
