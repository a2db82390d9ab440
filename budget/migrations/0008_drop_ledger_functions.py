"""The ledger runs in the ORM (``budget/ledger.py``), the same on SQLite and PostgreSQL: its
PostgreSQL functions (0003 to 0006) are dropped. Going back recreates them as 0006 left them."""

import importlib

from django.db import migrations


def _sql(name: str, attribute: str) -> str:
    return getattr(importlib.import_module(f"budget.migrations.{name}"), attribute)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_sql("0003_ledger_functions", "DROP"))


def recreate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_sql("0003_ledger_functions", "FUNCTIONS"))  # release, and the others
        schema_editor.execute(_sql("0005_charge_locks_the_period_first", "CHARGE"))
        schema_editor.execute(_sql("0006_reserve_waits_for_the_flush_unlocked", "RESERVE"))


class Migration(migrations.Migration):
    dependencies = [("budget", "0007_overruns")]

    operations = [migrations.RunPython(drop, recreate)]
