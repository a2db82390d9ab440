"""The outbox's two halves: ``fan_out`` (one delivery per channel, in the event's transaction) and
``deliver_due`` (the worker: claim → send → record).

Exactly once per (event, channel), whatever runs at the same time:
- A claim is one transaction: pick the next due row (``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so two workers pick different rows without waiting), then a conditional UPDATE to
  SENDING that only succeeds while the row is still due. On SQLite, where transactions take the
  write lock up front, claims simply queue; the conditional UPDATE keeps them correct anyway.
- The claim is a lease: ``next_attempt_at`` moves to now + NOTIFY_LEASE_SECONDS. A worker that dies
  mid-send leaves a SENDING row that is due again once the lease runs out.
- Recording the outcome is conditional on the claim (status SENDING, same attempt number), so a
  worker that somehow outlived its lease cannot overwrite a newer claim's result.

Messages to one channel go out in event order: only a channel's oldest unfinished delivery is ever
due, so a channel that is down (or rate limited) holds its queue until it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from notifications import channels
from notifications.models import Channel, Delivery, Event
from notifications.transports import Outcome, transport_for

log = logging.getLogger(__name__)

Status = Delivery.Status
MAX_RATE_LIMIT_WAIT = 60 * 60  # a silly Retry-After must not park a channel for days


# --- fan-out ------------------------------------------------------------------------------------


def fan_out(event: Event) -> list[Delivery]:
    """Create one delivery per enabled channel that wants this kind; call inside the event's
    transaction. After commit, delivery is triggered (see ``trigger_delivery``)."""
    targets = channels.channels_for(event.kind)
    if not targets:
        return []
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        [Delivery(event=event, channel=channel, next_attempt_at=now) for channel in targets]
    )
    transaction.on_commit(trigger_delivery)
    return deliveries


def trigger_delivery() -> None:
    """Queue ``deliver_due`` for the cluster. Never raises: the periodic sweep is the safety net."""
    if not settings.NOTIFY_ASYNC:
        return
    try:
        # save=False: a result row per trigger would push the executions' results out of q2's
        # save_limit. Failures are still saved, and the sweep's runs keep their summaries.
        async_task("notifications.delivery.deliver_due", task_name="deliver notifications", save=False)
    except Exception as exc:  # the broker is down: the sweep will send it
        log.warning(
            "could not queue notification delivery (%s); the periodic sweep will send it", type(exc).__name__
        )


# --- claiming -----------------------------------------------------------------------------------


def due(now: dt.datetime) -> QuerySet[Delivery]:
    """Deliveries to send now: active, due, channel on and not paused, and no older unfinished
    delivery to the same channel (per-channel order)."""
    older_unfinished = Delivery.objects.filter(
        channel=OuterRef("channel"), event_id__lt=OuterRef("event_id"), status__in=Delivery.ACTIVE
    )
    return (
        Delivery.objects.filter(status__in=Delivery.ACTIVE, next_attempt_at__lte=now, channel__enabled=True)
        .filter(Q(channel__paused_until__isnull=True) | Q(channel__paused_until__lte=now))
        .filter(~Exists(older_unfinished))
        .order_by("next_attempt_at", "event_id", "pk")
    )


def claim_next(*, now: dt.datetime) -> Delivery | None:
    """Claim one due delivery for this worker, or None when nothing is due."""
    for _ in range(10):  # a lost race means someone else took that row: look again
        with transaction.atomic():
            pk = (
                due(now)
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)
                .first()
            )
            if pk is None:
                return None
            claimed = Delivery.objects.filter(
                pk=pk, status__in=Delivery.ACTIVE, next_attempt_at__lte=now
            ).update(
                status=Status.SENDING,
                attempts=F("attempts") + 1,
                next_attempt_at=now + dt.timedelta(seconds=settings.NOTIFY_LEASE_SECONDS),
                updated_at=now,
            )
        if claimed:
            return Delivery.objects.select_related("event", "channel").get(pk=pk)
    return None


# --- sending and recording ----------------------------------------------------------------------


def send(delivery: Delivery) -> Outcome:
    try:
        return transport_for(delivery.channel).send(delivery.event)
    except Exception as exc:  # a rendering bug must not stop the other deliveries
        log.exception("could not render event %s for channel %s", delivery.event_id, delivery.channel.name)
        return Outcome(ok=False, error=f"could not build the message ({type(exc).__name__})")


def backoff_seconds(attempts: int) -> int:
    """Wait after the ``attempts``-th failed attempt: base × 2^(attempts-1), capped."""
    base, cap = settings.NOTIFY_RETRY_BASE_SECONDS, settings.NOTIFY_RETRY_MAX_SECONDS
    return min(cap, base * 2 ** max(attempts - 1, 0))


def record(delivery: Delivery, outcome: Outcome, *, now: dt.datetime) -> str:
    """Store what happened; returns one of sent / retry / rate_limited / disabled / dead / lost."""
    channel = delivery.channel
    fields: dict = {"response_status": outcome.status, "updated_at": now}
    if outcome.ok:
        result = "sent"
        fields |= {"status": Status.SENT, "sent_at": now, "last_error": ""}
    elif outcome.status == 429:
        result = "rate_limited"
        wait = min(outcome.retry_after or backoff_seconds(1), MAX_RATE_LIMIT_WAIT)
        # The service said when: that is not a failure of this message, so the attempt is given back.
        fields |= {
            "status": Status.PENDING,
            "attempts": F("attempts") - 1,
            "next_attempt_at": now + dt.timedelta(seconds=wait),
            "last_error": outcome.error,
        }
    elif outcome.gone:
        result = "disabled"
        # The message waits (not lost) until someone fixes the URL and turns the channel back on.
        fields |= {"status": Status.PENDING, "next_attempt_at": now, "last_error": outcome.error}
    elif outcome.permanent or delivery.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        result = "dead"
        fields |= {"status": Status.DEAD, "last_error": outcome.error}
    else:
        result = "retry"
        wait = max(outcome.retry_after or 0, backoff_seconds(delivery.attempts))
        fields |= {
            "status": Status.PENDING,
            "next_attempt_at": now + dt.timedelta(seconds=min(wait, MAX_RATE_LIMIT_WAIT)),
            "last_error": outcome.error,
        }
    fields["last_error"] = fields.get("last_error", "")[:1000]
    with transaction.atomic():
        updated = Delivery.objects.filter(
            pk=delivery.pk, status=Status.SENDING, attempts=delivery.attempts
        ).update(**fields)
        if not updated:
            log.warning(
                "delivery %s was claimed again while being sent; its outcome is not recorded", delivery.pk
            )
            return "lost"
        pause = outcome.retry_after if outcome.status == 429 else outcome.pause
        if pause:
            Channel.objects.filter(pk=channel.pk).update(
                paused_until=now + dt.timedelta(seconds=min(pause, MAX_RATE_LIMIT_WAIT))
            )
        if outcome.gone:
            channels.disable(channel, _why_gone(outcome), now=now)
    _log(delivery, result, outcome)
    return result


GONE_BECAUSE = {
    401: "its token is refused",
    403: "it refuses this webhook",
    404: "it no longer exists",
    410: "it no longer exists",
}


def _why_gone(outcome: Outcome) -> str:
    if outcome.status is None:
        return f"Not sent: {outcome.error}"
    because = GONE_BECAUSE.get(outcome.status)
    return f"The webhook answered {outcome.error}" + (f": {because}" if because else "")


def _log(delivery: Delivery, result: str, outcome: Outcome) -> None:
    name, attempt = delivery.channel.name, delivery.attempts
    if result == "sent":
        log.info("delivery %s (%s) sent to %s", delivery.pk, delivery.event.kind, name)
    elif result == "dead":
        log.error("delivery %s to %s is dead after attempt %s: %s", delivery.pk, name, attempt, outcome.error)
    elif result == "disabled":
        log.error("channel %s turned off: %s", name, outcome.error)
    else:
        log.warning("delivery %s to %s, attempt %s: %s", delivery.pk, name, attempt, outcome.error)


# --- the worker ---------------------------------------------------------------------------------


def deliver(*, now: dt.datetime | None = None, limit: int = 100) -> Counter:
    """Send up to ``limit`` due deliveries, one claim at a time; returns counts per result."""
    counts: Counter = Counter()
    for _ in range(limit):
        at = now or timezone.now()
        delivery = claim_next(now=at)
        if delivery is None:
            break
        counts[record(delivery, send(delivery), now=at)] += 1
    return counts


def summary(counts: Counter) -> str:
    order = ["sent", "retry", "rate_limited", "dead", "disabled", "lost"]
    parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in order if counts[k]]
    return "notifications: " + (", ".join(parts) if parts else "nothing due")


def deliver_due(*, now: dt.datetime | None = None, limit: int = 100) -> str:
    """The q2 task (after each commit and the periodic sweep): returns a one-line summary."""
    return summary(deliver(now=now, limit=limit))


def retry(queryset: QuerySet[Delivery], *, now: dt.datetime | None = None) -> int:
    """Make dead (or waiting) deliveries due now with a fresh set of attempts. Sent ones and ones
    being sent are left alone. Returns how many will be tried again."""
    at = now or timezone.now()
    count = queryset.filter(status__in=[Status.DEAD, Status.PENDING]).update(
        status=Status.PENDING, attempts=0, next_attempt_at=at, updated_at=at
    )
    if count:
        transaction.on_commit(trigger_delivery)
    return count
