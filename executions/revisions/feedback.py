"""What a revision's analyst is shown of the feedback that asked for it, read once (``gather``):

- failed checks: each failed check run's name, conclusion, output title and summary, and its
  annotations (path, line, message); each failed commit status's context, state and description;
- a review (asked by the review or by one of its comments): its state, author and body, and each
  of its comments with path, line and diff hunk;
- a comment on the pull request: its author and text;
- the command line (``manage.py revise``): the request.

Feedback is untrusted text. It only ever reaches the analyst's prompt, quoted as data
(``executions.analysis.analyst.revision_part``): never a shell, a path or a file. It is cut field by field
(``FIELD_BYTES``) and as a whole to REVISION_FEEDBACK_BYTES (``fit``); lists are read from GitHub
only while more is wanted (``MAX_ITEMS``), so a huge review or check output is never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.conf import settings

from executions.context.repomap import quoted
from executions.models import Revision

if TYPE_CHECKING:
    from executions.repositories.base import RepositoryGateway

Kind = Revision.Kind

MAX_ITEMS = 50  # annotations per check run, comments per review
FIELD_BYTES = {
    "summary": 4000,
    "body": 4000,
    "text": 4000,
    "diff_hunk": 1500,
    "message": 600,
    "title": 300,
    "path": 300,
    "name": 200,
    "author": 100,
}
DEFAULT_FIELD_BYTES = 300


def gather(revision: Revision, gateway: RepositoryGateway) -> dict:
    """The feedback of ``revision`` as the analyst sees it: read from GitHub for failed checks and
    a review (with its comments), from what the webhook (or the command) stored for a comment (or
    a request); cut to fit."""
    source = revision.source
    if revision.kind == Kind.CHECKS:
        checks = gateway.failed_checks(source["sha"], max_annotations=MAX_ITEMS)
        feedback = {"kind": "failed checks", "commit": source["sha"], "checks": checks}
    elif revision.kind == Kind.REVIEW:  # the review as it is now, whichever of its deliveries asked
        number = revision.pull_request.number
        review = gateway.review(number, source["review_id"])
        comments = gateway.review_comments(number, source["review_id"], max_comments=MAX_ITEMS)
        feedback = {"kind": "review", **review, "comments": comments}
    elif revision.kind == Kind.COMMENT:
        feedback = {"kind": "comment", "author": source.get("author", ""), "body": source.get("body", "")}
    else:
        feedback = {"kind": "request", "text": source.get("text", "")}
    return fit(feedback, settings.REVISION_FEEDBACK_BYTES)


def fit(feedback: dict, cap: int) -> dict:
    """``feedback`` with each text cut to its field's cap, then, while its JSON is over ``cap``
    bytes, items dropped from the end of its longest list (said in ``left_out``), and last the
    longest text cut further."""
    data = clip_fields(feedback)
    dropped = 0
    while (over := size(data) - cap) > 0:
        lists = [items for items in _lists(data) if items]
        if lists:
            max(lists, key=len).pop()
            dropped += 1
            data["left_out"] = f"{dropped} more item(s) not shown: over REVISION_FEEDBACK_BYTES"
            continue
        holder, name = max(_texts(data), key=lambda found: len(found[0][found[1]].encode("utf-8")))
        encoded = holder[name].encode("utf-8")
        if len(encoded) <= 32:
            break  # nothing left worth cutting: the structure alone is over the cap
        holder[name] = encoded[: max(len(encoded) - over - 16, 0)].decode("utf-8", errors="ignore") + " […]"
    return data


def size(feedback: dict) -> int:
    """The bytes ``feedback`` takes in the prompt, quoted as data (``repomap.quoted``)."""
    return len(quoted(feedback).encode("utf-8"))


def text_of(feedback: dict) -> str:
    """Every text in ``feedback``, one per line: what ranks the repository's files for a revision."""
    return "\n".join(holder[name] for holder, name in _texts(feedback) if name != "diff_hunk")


def clip_fields(value: object, name: str = "") -> object:
    """``value`` with every text cut to its field's cap (``FIELD_BYTES``): what a webhook's
    feedback is stored as until the revision runs."""
    if isinstance(value, dict):
        return {key: clip_fields(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [clip_fields(item, name) for item in value]
    if isinstance(value, str):
        cap = FIELD_BYTES.get(name, DEFAULT_FIELD_BYTES)
        encoded = value.encode("utf-8")
        if len(encoded) > cap:
            return encoded[:cap].decode("utf-8", errors="ignore") + " […]"
    return value


def _lists(value: object) -> Iterator[list]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _lists(item)
    elif isinstance(value, list):
        yield value
        for item in value:
            yield from _lists(item)


def _texts(value: object) -> Iterator[tuple[dict, str]]:
    """(holder, key) of every string value in a dict, nested."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield value, key
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
