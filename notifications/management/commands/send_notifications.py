"""``send_notifications [--retry-dead]``: send every delivery that is due now, then say what happened.

The same work as the background task, by hand: useful without a running cluster, or to see at once
why messages do not arrive. Exit codes: 0 everything due was sent (or nothing was due), 1 some
delivery failed (it will be retried, is dead, or its channel was turned off), 2 DISCORD_WEBHOOK_URL
is not a Discord webhook URL.
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from notifications import channels, delivery
from notifications.models import Channel, Delivery

MAX_ROUNDS = 1000  # each round sends up to 100; failures are scheduled later, so rounds run out


class Command(BaseCommand):
    help = "Send every notification that is due now (retries included) and print the counts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--retry-dead",
            action="store_true",
            help="First make dead deliveries due again, with fresh attempts.",
        )

    def handle(self, *args, retry_dead: bool, **options):
        if problem := channels.env_url_problem():
            raise CommandError(problem, returncode=2)
        channels.sync_env_channel()
        if retry_dead:
            revived = delivery.retry(Delivery.objects.filter(status=Delivery.Status.DEAD))
            self.stdout.write(f"Dead deliveries made due again: {revived}.")
        total: Counter = Counter()
        for _ in range(MAX_ROUNDS):
            counts = delivery.deliver()
            if not counts:
                break
            total += counts
        self.stdout.write(self.report(total))
        for line in self.waiting():
            self.stdout.write(line)
        failed = total["retry"] + total["dead"] + total["disabled"]
        if failed:
            raise CommandError(
                f"{failed} deliver{'y' if failed == 1 else 'ies'} failed: see Deliveries in the admin.",
                returncode=1,
            )

    def report(self, total: Counter) -> str:
        if not total:
            return "Nothing was due."
        parts = [f"sent {total['sent']}"]
        for key, label in [
            ("retry", "will be retried"),
            ("rate_limited", "rate limited, waiting"),
            ("dead", "dead"),
            ("disabled", "stopped: channel turned off"),
        ]:
            if total[key]:
                parts.append(f"{total[key]} {label}")
        return "Notifications: " + ", ".join(parts) + "."

    def waiting(self) -> list[str]:
        lines = []
        for channel in Channel.objects.filter(enabled=False).exclude(disabled_reason=""):
            lines.append(f"Channel {channel.name} is off: {channel.disabled_reason}")
        active = Delivery.objects.filter(status__in=Delivery.ACTIVE)
        if count := active.count():
            lines.append(f"Still waiting: {count} ({self.next_attempt(active)}).")
        if dead := Delivery.objects.filter(status=Delivery.Status.DEAD).count():
            lines.append(f"Dead: {dead} in all (retry them in the admin or with --retry-dead).")
        return lines

    def next_attempt(self, active) -> str:
        """When the first waiting delivery really goes: never a time already past.

        A delivery waits for its own time and for its channel's rate-limit pause; one whose
        channel is off waits for a person, not for a time.
        """
        first = (
            active.filter(channel__enabled=True)
            .annotate(at=Greatest("next_attempt_at", Coalesce("channel__paused_until", "next_attempt_at")))
            .aggregate(first=Min("at"))["first"]
        )
        if first is None:
            return "their channel is off: turn it on in the admin"
        if first <= timezone.now():
            return "due now: the background worker sends it, or run this command again"
        return f"next attempt at {timezone.localtime(first):%Y-%m-%d %H:%M:%S %Z}"
