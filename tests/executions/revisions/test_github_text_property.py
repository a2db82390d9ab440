"""A property (issue 32): whatever unicode GitHub sends — NUL, lone surrogates, 100 KB lines, RTL
marks, the configured secrets — through every GitHub text entry point (an issue by webhook and by
polling, a comment, a review and its comments, a check's output and annotations, check and file
names, a pull request's branch), no exception escapes, nothing unmasked is stored or sent to a
vendor, and the queue behind it still runs. The real SDKs and PyGithub against the fakes; few
examples, each one a real delivery, poll and preparation."""

import json

import pytest
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executions.backlog.services import create_task
from executions.github import issues as github_issues
from executions.models import Execution, PullRequest, Revision, Task
from executions.pipeline.runner import prepare
from executions.providers import providers_for_mode
from executions.repositories.gateways import get_gateway
from executions.scheduling.scheduler import run_next_execution
from tests.executions.outcomes import SECRET, deliver
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.github import GOOD_TOKEN
from tests.fakes.openai import API_KEY as OPENAI_KEY
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

SECRETS = (GOOD_TOKEN, ANTHROPIC_KEY, OPENAI_KEY, SECRET)
ODD = ("\x00", "\ud800", "\udfff", "\ud83d", "\u200f", "\u202e", "\u061c", "\r\n", "/revise")
LONG_LINE = "x" * 100_000

pieces = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),  # surrogates included
    st.sampled_from(ODD + SECRETS),
    st.just(LONG_LINE),
)
github_text = st.lists(pieces, min_size=1, max_size=6).map("".join)


def assert_clean(where: str, text: str) -> None:
    assert "\x00" not in text and "\\u0000" not in text, where
    text.encode("utf-8")  # no lone surrogate
    for secret in SECRETS:
        assert secret not in text, where


def received(fake) -> str:
    """Every request body a vendor fake received, decoded (a JSON escape of NUL or a surrogate
    becomes the character itself)."""
    return json.dumps([r.json for r in fake.requests if r.body], ensure_ascii=False)


def stored(*querysets) -> str:
    return json.dumps([list(q) for q in querysets], ensure_ascii=False, default=str)


def test_any_github_text_is_cleaned_at_the_boundary_and_the_queue_still_runs(live, fake_github, pr, settings):
    anthropic_fake, openai_fake = live
    settings.PACING_ENABLED = False
    settings.PR_MAX_REVISIONS = 1000
    client = Client(enforce_csrf_checks=True)
    repository = pr.task.repository
    seen = {"examples": 0}

    @settings_for_the_property
    @given(text=github_text)
    def one_delivery_of_each_kind(text):
        seen["examples"] += 1
        n = seen["examples"]
        Revision.objects.all().delete()
        # A file name on the base branch (what the analyst's map of the repository lists).
        fake_github.push_commit("main", {f"docs/{n}-{text[:120]}.md": "notes\n"})
        # An issue, by webhook and by polling.
        issue = fake_github.open_issue(text, text, labels=("pr-orchestrator",))
        response, _ = deliver(client, "issues", fake_github.issues_event("opened", issue["number"]))
        assert response.status_code in (200, 204, 400), response.content
        fake_github.edit_issue(issue["number"], title=f"{text} (edited)")
        github_issues.sync_issues()
        # A comment, a review with its comment, failed checks with their output and annotations.
        comment = fake_github.comment_on(pr.number, f"/revise {text}", association="OWNER")
        response, _ = deliver(client, "issue_comment", fake_github.issue_comment_event(pr.number, comment))
        assert response.status_code in (200, 204, 400), response.content
        review = fake_github.add_review(
            pr.number, body=text, comments=[{"path": "app/health.py", "line": 5, "body": text}]
        )
        response, _ = deliver(client, "pull_request_review", fake_github.review_event(review))
        assert response.status_code in (200, 204, 400), response.content
        head = PullRequest.objects.get(pk=pr.pk).head_sha
        fake_github.add_check_run(
            head,
            f"check {n} {text[:200]}",
            conclusion="failure",
            title=text[:500],
            summary=text,
            annotations=[{"path": f"app/{text[:100]}.py", "start_line": 1, "message": text}],
        )
        fake_github.add_status(head, f"ci/{n} {text[:100]}", "failure", description=text[:140])
        PullRequest.objects.filter(pk=pr.pk).update(check_results={}, checks="none")
        call_command("sync_pull_requests")
        pull = fake_github.pull_request_event("synchronize", pr.number)
        pull["pull_request"]["head"]["ref"] = text[:1000]  # a branch name, as a delivery carries it
        response, _ = deliver(client, "pull_request", pull)
        assert response.status_code in (200, 204, 400), response.content
        # Each revision is prepared as the scheduler would: the analyst's request, token counts.
        gateway = get_gateway(repository)
        for revision in Revision.objects.filter(status="pending"):
            prepared = prepare(
                revision.task, providers=providers_for_mode(), gateway=gateway, revision=revision
            )
            assert_clean("the analyst's request", prepared.analysis_request.user)
        assert_clean(
            "the rows",
            stored(
                Task.objects.values_list("title", "description"),
                Revision.objects.values_list("source", "feedback", "error"),
                PullRequest.objects.values_list("check_results", "head_branch"),
            ),
        )
        assert_clean("what anthropic received", received(anthropic_fake))

    one_delivery_of_each_kind()

    assert seen["examples"] >= 3
    # The queue behind all that still runs: the issues' tasks, the revisions, then a task queued last.
    anthropic_fake.tool_input = {"plan": "1. Add a notes file.\n", "files": []}
    last = create_task(title="Add a changelog", repository=repository)
    for n in range(20):
        openai_fake.content = change({"path": f"NOTES-{n}.md", "action": "create", "content": "# Notes\n"})
        if run_next_execution() == "skipped: no pending task":
            break
    assert Task.objects.get(pk=last.pk).status == Task.Status.DONE
    assert not Revision.objects.filter(status__in=("pending", "running")).exists()
    assert_clean("what the vendors received", received(anthropic_fake) + received(openai_fake))
    assert_clean("the executions", stored(Execution.objects.values_list("error", "plan", "summary")))


settings_for_the_property = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
