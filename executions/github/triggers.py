"""What on GitHub asks one of the product's pull requests for a revision (a follow-up commit,
``executions.revisions.lifecycle``):

- its combined checks on the head commit became ``failure`` (``checks_failed``: webhooks
  ``check_run``, ``check_suite`` and ``status`` through ``pull_requests.apply``, and
  ``sync_pull_requests``), when REVISE_ON_FAILED_CHECKS is on: at most once per head commit;
- a review submitted with ``changes_requested``, or with REVISION_TRIGGER in its text
  (``on_review``), or one of its comments holding REVISION_TRIGGER (``on_review_comment``);
- a comment on the pull request holding REVISION_TRIGGER (``on_issue_comment``).

Reviews and comments count only from people with write access (``author_association`` OWNER,
MEMBER or COLLABORATOR); anyone else's, and the product's own comments (they carry its hidden
marker), are ignored with a line in the log, never an answer on the pull request. Each piece of
feedback has a key (the head commit, the review, the comment), so a delivery seen twice, or by
the webhook and the poll, queues one revision. Feedback text is untrusted: it is kept, cut, for
the analyst's prompt only (``executions.revisions.feedback``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from executions.github.payloads import MAX_ID, dig, ignored_event, number, text
from executions.models import PullRequest, Revision
from executions.repositories.base import FAILED_CONCLUSIONS
from executions.repositories.comments import MARKER_PREFIX
from executions.revisions import feedback, lifecycle

Kind = Revision.Kind
WRITE_ACCESS = ("OWNER", "MEMBER", "COLLABORATOR")


def checks_failed(pr: PullRequest, *, now: dt.datetime | None = None) -> str:
    """``pr``'s combined checks just became ``failure`` on its head commit: a revision, once per
    head commit, unless one is already queued or running (its commit's checks will tell)."""
    if not settings.REVISE_ON_FAILED_CHECKS:
        return "ignored: REVISE_ON_FAILED_CHECKS is off"
    if Revision.objects.filter(pull_request=pr, status__in=lifecycle.ACTIVE).exists():
        return f"ignored: a revision of {pr.repository}#{pr.number} is already queued or running"
    failed = sorted(name for name, result in pr.check_results.items() if result in FAILED_CONCLUSIONS)
    return lifecycle.ask(
        pr,
        kind=Kind.CHECKS,
        key=f"checks:{pr.pk}:{pr.head_sha}",
        source={"sha": pr.head_sha, "checks": failed[:20]},
        now=now,
    )


# --- the webhook (handlers of ``executions.github.dispatch``) -----------------------------------------


def on_review(event: str, payload: dict):
    """A review submitted: changes requested (or the trigger in its text) from someone with write
    access asks for a revision."""
    action = payload.get("action")
    if action != "submitted":
        return ignored_event(event, action)
    review = dig(payload, "review")
    review_id = number(dig(review, "id"), "review.id", most=MAX_ID)
    body, state = text(dig(review, "body")), text(dig(review, "state")).lower()
    if state != "changes_requested" and settings.REVISION_TRIGGER not in body:
        return f"ignored: a review ({state or 'no state'}) that asks for no changes"
    return _asking(
        payload,
        review,
        kind=Kind.REVIEW,
        key=f"review:{review_id}",
        source={"review_id": review_id, "state": state, "body": body},
    )


def on_review_comment(event: str, payload: dict):
    """A comment on a pull request's diff holding REVISION_TRIGGER: it asks for a revision of its
    review (GitHub puts every such comment in one), so a review and its comments, whichever is
    delivered first, ask for one revision, whose analyst reads the whole review."""
    action = payload.get("action")
    if action != "created":
        return ignored_event(event, action)
    comment = dig(payload, "comment")
    review_id = number(dig(comment, "pull_request_review_id"), "comment.pull_request_review_id", most=MAX_ID)
    body = text(dig(comment, "body"))
    if settings.REVISION_TRIGGER not in body:
        return f"ignored: a comment without {settings.REVISION_TRIGGER}"
    return _asking(
        payload, comment, kind=Kind.REVIEW, key=f"review:{review_id}", source={"review_id": review_id}
    )


def on_issue_comment(event: str, payload: dict):
    """A comment on a pull request's conversation (GitHub sends them as issue comments) holding
    REVISION_TRIGGER."""
    action = payload.get("action")
    if action != "created":
        return ignored_event(event, action)
    if dig(payload, "issue", "pull_request") is None:
        return "ignored: a comment on an issue, not on a pull request"
    comment = dig(payload, "comment")
    comment_id = number(dig(comment, "id"), "comment.id", most=MAX_ID)
    body = text(dig(comment, "body"))
    if settings.REVISION_TRIGGER not in body:
        return f"ignored: a comment without {settings.REVISION_TRIGGER}"
    return _asking(payload, comment, kind=Kind.COMMENT, key=f"comment:{comment_id}", source={"body": body})


def _asking(payload: dict, said: object, *, kind: str, key: str, source: dict):
    """The action queueing a revision of the payload's pull request for what was ``said`` (a review
    or a comment), or why not: an unknown or closed pull request, an author without write access, the
    product's own words."""
    found = number(
        dig(payload, "pull_request", "number") or dig(payload, "issue", "number"), "the pull request's number"
    )
    repository = text(dig(payload, "repository", "full_name"))
    where = f"{repository or 'the repository'}#{found}"
    pr = PullRequest.objects.filter(repository=repository, number=found).first()
    if pr is None:
        return f"ignored: {where} is not a pull request this product opened"
    if pr.state != PullRequest.State.OPEN:
        return f"ignored: {where} is {pr.state}: no revision"
    author = text(dig(said, "user", "login"))
    if MARKER_PREFIX in text(dig(said, "body")):
        return f"ignored: the product's own words on {where}"
    association = text(dig(said, "author_association"))  # exactly as GitHub sends it
    if association not in WRITE_ACCESS:
        return (
            f"ignored: {author or 'someone'} ({association or 'no association'}) may not ask {where} for a "
            f"revision: only {', '.join(WRITE_ACCESS)} may"
        )
    source = feedback.clip_fields({**source, "author": author})  # kept, cut, for the prompt only
    return lambda at: lifecycle.ask(pr, kind=kind, key=key, source=source, now=at)
