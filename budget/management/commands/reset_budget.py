"""``reset_budget --yes``: close the open period now and open a fresh one to the end of the month."""

from django.core.management.base import BaseCommand, CommandError

from budget.money import format_usd
from budget.periods import reset_period


class Command(BaseCommand):
    help = (
        "Close the open budget period now and open a fresh one (same limit, zero spend) to the month's end."
    )

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="Really do it.")

    def handle(self, *args, yes: bool, **options):
        if not yes:
            raise CommandError(
                "reset_budget closes the open period and starts a fresh one with zero spend; "
                "run it again with --yes to confirm.",
                returncode=2,
            )
        old, new = reset_period()
        self.stdout.write(
            f"Closed the period that spent {format_usd(old.spent_nanos, places=2)} of "
            f"{format_usd(old.limit_nanos, places=2)}; a fresh period with "
            f"{format_usd(new.limit_nanos, places=2)} runs until {new.ends_at:%Y-%m-%d %H:%M %Z}."
        )
