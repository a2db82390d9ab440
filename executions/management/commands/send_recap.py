"""``send_recap [--month YYYY-MM] [--force]``: send a month's recap (again only with ``--force``).

The month defaults to the previous one (in TIME_ZONE). The recap is written to the outbox, which
delivers it to every channel that wants recaps. Exit codes: 0 sent, or already sent (it says when
and sends nothing); 1 the month still has executions in flight (the recap waits for them);
2 bad usage: a malformed month, a month with no budget period, or a month that
is not over yet without ``--force`` (with it, a preview is sent that does not count as the recap).
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from budget.money import format_usd
from budget.periods import month_start, next_month, parse_month, part_of_month, periods_for_month
from executions.costs.recap import send_recap
from notifications.recap import in_flight, is_finished
from notifications.text import plural


class Command(BaseCommand):
    help = "Send a month's recap (default: last month) to the notification channels; --force sends it again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--month", metavar="YYYY-MM", help="The month to recap (default: the previous one)."
        )
        parser.add_argument(
            "--force", action="store_true", help="Send again, or preview a month not over yet."
        )

    def handle(self, *args, month: str | None, force: bool, **options):
        now = timezone.now()
        if month is None:
            chosen = month_start(month_start(now) - dt.timedelta(days=1))
        else:
            try:
                chosen = parse_month(month)
            except ValueError as exc:
                raise CommandError(str(exc), returncode=2) from None
        periods = periods_for_month(chosen)
        if not periods:
            raise CommandError(
                f"no budget period for {chosen:%Y-%m}: nothing was spent that month", returncode=2
            )
        if not force and not all(is_finished(p, now=now) for p in periods):
            raise CommandError(
                f"{chosen:%Y-%m} is not over yet: its recap goes out on {next_month(chosen):%Y-%m-%d}; "
                "use --force to send a preview now",
                returncode=2,
            )
        for period in periods:
            part = part_of_month(period.starts_at, period.ends_at)
            label = f"{period.month:%Y-%m}" + (f" ({part})" if part else "")
            if not force and period.recapped_at is None and (running := in_flight(period, now=now)):
                raise CommandError(
                    f"The recap of {label} waits for {running} execution{'s' if running != 1 else ''} still in "
                    "flight; it goes out at the next hourly check after they end (or use --force now).",
                    returncode=1,
                )
            if send_recap(period, force=force, now=now):
                period.refresh_from_db()
                self.stdout.write(
                    f"Recap of {label} sent: {format_usd(period.spent_nanos, places=2)} of "
                    f"{format_usd(period.limit_nanos, places=2)} spent, {plural(period.executions_count, 'execution')}, "
                    f"{plural(period.prs_count, 'PR')}."
                )
            else:
                period.refresh_from_db()
                sent = timezone.localtime(period.recapped_at)
                self.stdout.write(
                    f"The recap of {label} was already sent on {sent:%Y-%m-%d %H:%M %Z}; "
                    "use --force to send it again."
                )
