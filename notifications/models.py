"""The outbox: events written in the same transaction as the change that caused them, and one
delivery per (event, channel) that a worker sends, retries and finally gives up on."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import models


class Event(models.Model):
    class Kind(models.TextChoices):
        EXECUTION_STARTED = "execution_started"
        EXECUTION_COMPLETED = "execution_completed"
        EXECUTION_FAILED = "execution_failed"
        MILESTONE_REACHED = "milestone_reached"
        BUDGET_EXHAUSTED = "budget_exhausted"
        MONTHLY_RECAP = "monthly_recap"
        MODEL_RETIRING = "model_retiring"
        MODEL_SWITCHED = "model_switched"
        USAGE_MISMATCH = "usage_mismatch"  # a vendor's usage report and the ledger differ
        ERROR = "error"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True, help_text="De-duplication key.")
    payload = models.JSONField(default=dict, help_text="The facts at the time of the event.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.key})"


def mask_url(url: str) -> str:
    """A webhook URL with its secret part hidden: ``https://discord.com/api/webhooks/…/****``.

    Only the scheme, the host and the first path segments that name the service are kept; ids and
    tokens never are.
    """
    parts = urlsplit(url or "")
    if not parts.scheme or not parts.netloc:
        return "****"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    # Keep the service's own prefix (api/webhooks, services), which is public and helps recognise it.
    kept = []
    for segment in segments[:-1]:
        if segment in ("api", "webhooks", "services", "hooks") or (
            segment.startswith("v") and segment[1:].isdigit()
        ):
            kept.append(segment)
        else:
            break
    prefix = "/".join(kept)
    return f"{parts.scheme}://{host}/{prefix + '/' if prefix else ''}…/****"


class Channel(models.Model):
    """Where messages go. The URL is a secret: shown masked, never logged, never in error text."""

    class Kind(models.TextChoices):
        DISCORD = "discord", "Discord webhook"
        SLACK = "slack", "Slack incoming webhook"
        WEBHOOK = "webhook", "Generic JSON webhook"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DISCORD)
    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=1000, help_text="The webhook URL. A secret: it is never shown again.")
    enabled = models.BooleanField(default=True)
    events = models.JSONField(
        default=list, blank=True, help_text="The event kinds this channel wants; none chosen means all."
    )
    disabled_reason = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why delivery turned this channel off (e.g. the webhook is gone).",
    )
    # Set from the service's rate-limit answers: nothing is sent to this channel before then.
    paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def __repr__(self) -> str:  # the default repr is fine, but say it: no URL here either
        return f"<Channel {self.pk}: {self.name}>"

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events


class Delivery(models.Model):
    """One event to one channel. PENDING → SENDING (claimed, with a lease) → SENT, or DEAD after the
    last attempt. A SENDING row whose lease (``next_attempt_at``) ran out is due again."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        DEAD = "dead"

    ACTIVE = (Status.PENDING, Status.SENDING)

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        help_text="When it is due; while sending, when the claim expires and it is due again."
    )
    last_error = models.CharField(max_length=1000, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-event_id", "channel_id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "channel"], name="one_delivery_per_event_and_channel"),
        ]
        indexes = [
            # The due query: active rows by due time…
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # …and, per channel, "is an earlier event still waiting?" (messages keep their order).
            models.Index(fields=["channel", "status", "event"], name="delivery_channel_order"),
        ]

    def __str__(self) -> str:
        return f"{self.event.kind} → {self.channel.name}: {self.status}"
