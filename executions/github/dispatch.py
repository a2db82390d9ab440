"""What a verified GitHub webhook delivery does: one handler per event, acted on once.

``handle_webhook`` looks the delivery's event up in ``HANDLERS``. A handler reads the payload and
answers either why it is ignored (a string starting with ``ignored``: nothing is recorded) or
the action to take; the action runs in one transaction with the delivery's record (its
``X-GitHub-Delivery`` id, unique), so a redelivery or a replay changes nothing. A handled event
whose payload lacks what its handler needs raises ``WebhookPayloadError`` (the view's 400).

A new event is one handler (``handler(event, payload) -> str | action``, the action being
``action(now) -> str``) and one line in ``HANDLERS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from executions.github import issues, pull_requests, triggers
from executions.github.payloads import ignored_event
from executions.models import WebhookDelivery

Action = Callable[[dt.datetime], str]
Handler = Callable[[str, dict], "str | Action"]

HANDLERS: dict[str, Handler] = {
    "pull_request": pull_requests.on_pull_request,
    "check_run": pull_requests.on_check,
    "check_suite": pull_requests.on_check,
    "status": pull_requests.on_status,
    "issues": issues.on_issue,
    "pull_request_review": triggers.on_review,
    "pull_request_review_comment": triggers.on_review_comment,
    "issue_comment": triggers.on_issue_comment,
}


def handle_webhook(*, event: str, delivery_id: str, payload: dict, now: dt.datetime | None = None) -> str:
    """Act on one verified delivery; a one-line outcome. Starting with ``ignored`` or ``already``
    means nothing changed. A delivery id acted on before changes nothing again."""
    handler = HANDLERS.get(event)
    if handler is None:
        return ignored_event(event, payload.get("action"))
    act = handler(event, payload)
    if isinstance(act, str):
        return act
    at = now or timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(
                    delivery_id=delivery_id[:100], event=event[:50], received_at=at
                )
        except IntegrityError:
            return f"already processed: delivery {delivery_id[:100]}"
        return act(at)
