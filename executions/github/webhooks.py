"""``POST /webhooks/github/``: GitHub reports what became of the pull requests the product opened,
and what happened to the issues that are its tasks (``executions.github.dispatch`` acts on it).

The signature is the only authentication: ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the
raw body with ``GITHUB_WEBHOOK_SECRET``, compared in constant time. No session, no CSRF token.
Answers: 404 when no secret is configured (the endpoint is off), 413 for a body over
``GITHUB_WEBHOOK_MAX_BYTES`` (not read), 403 for a missing or wrong signature, 400 for a body
that is not a JSON object (or nests too deeply to read) or a delivery without
``X-GitHub-Delivery``, 200 when something changed (a pull request, a task), 204 when nothing did
(another event, an unknown PR, an issue of a repository that is not configured, a replayed
delivery). The secret and the signature are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from executions.github.dispatch import handle_webhook
from executions.github.payloads import WebhookPayloadError

log = logging.getLogger(__name__)


def signature_of(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _refuse(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        raise Http404("GitHub webhooks are not configured.")
    cap = settings.GITHUB_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "Content-Length is not a number.")
    if declared > cap:
        return _refuse(413, f"The body is over {cap} bytes.")
    body = request.read(cap + 1)  # not request.body: the cap here is the webhook's own
    if len(body) > cap:
        return _refuse(413, f"The body is over {cap} bytes.")
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not hmac.compare_digest(signature.encode(), signature_of(body, secret).encode()):
        log.warning("GitHub webhook refused: %s signature", "wrong" if signature else "no")
        return _refuse(403, "Missing or wrong X-Hub-Signature-256.")
    try:
        payload = json.loads(body)
    except ValueError:
        return _refuse(400, "The body is not JSON.")
    except RecursionError:  # signed, within the size cap, and nested deeper than Python recurses
        return _refuse(400, "The body's JSON is nested too deeply.")
    if not isinstance(payload, dict):
        return _refuse(400, "The body is not a JSON object.")
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    if not delivery:
        return _refuse(400, "X-GitHub-Delivery is missing.")
    event = request.headers.get("X-GitHub-Event", "").strip()
    try:
        outcome = handle_webhook(event=event, delivery_id=delivery, payload=payload)
    except WebhookPayloadError as exc:
        return _refuse(400, str(exc))
    log.info("GitHub webhook %r (%r): %s", event[:50], delivery[:100], outcome)
    if outcome.startswith(("ignored", "already")):
        return HttpResponse(status=204)
    return JsonResponse({"detail": outcome})
