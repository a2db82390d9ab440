"""What GitHub's refusals and failures become: a PublishError that says what to fix, no secret in it,
and nothing half-made left without a record."""

import re

import pytest

from executions.repositories.base import PublishError, branch_name
from executions.repositories.github import GitHubGateway
from tests.fakes.github import make_execution, rate_limited, serving_github

pytestmark = pytest.mark.django_db

WRONG_TOKEN = "ghp_wrong_but_secret_TOKEN_987654321"


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


def publish_failure(settings, execution=None, change=None) -> str:
    if execution is None:
        execution, change = make_execution()
    with pytest.raises(PublishError) as failure:
        GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")
    message = str(failure.value)
    assert settings.GITHUB_TOKEN not in message and WRONG_TOKEN not in message
    assert "\n" not in message
    return message


def writes(fake):
    return [r for r in fake.requests if r.method != "GET"]


def test_bad_credentials_name_the_setting_and_write_nothing(fake_github, settings):
    settings.GITHUB_TOKEN = WRONG_TOKEN

    message = publish_failure(settings)

    assert message == "GitHub rejected the token (401): check GITHUB_TOKEN."
    assert not writes(fake_github)


def test_a_missing_repository(fake_github, settings):
    settings.GITHUB_REPOSITORY = "octo/gone"

    message = publish_failure(settings)

    assert "octo/gone was not found or is not visible" in message and "GITHUB_REPOSITORY" in message


def test_read_only_access_is_caught_before_any_write(fake_github, settings):
    fake_github.repo().permissions["push"] = False

    message = publish_failure(settings)

    assert "can read octo/widgets but not push to it" in message
    assert not writes(fake_github)


def test_a_403_without_rate_limit_is_a_permission_problem(fake_github, settings):
    fake_github.fail_on(
        "POST", "/git/trees", 403, {"message": "Resource not accessible by personal access token"}
    )

    message = publish_failure(settings)

    assert message.startswith("GitHub refused creating the commit (403: Resource not accessible")
    assert "write access to contents and pull requests" in message
    assert len(fake_github.requests_to("/git/trees", "POST")) == 1  # not retried: it will not change


def test_a_primary_rate_limit_says_when_it_resets(fake_github, settings):
    status, body, headers = rate_limited(seconds_to_reset=1800)
    fake_github.fail_on("GET", "/repos/octo/widgets", status, body, headers)

    message = publish_failure(settings)

    reset = re.search(r"it resets at (\d{4}-\d\d-\d\d \d\d:\d\d) UTC \(in about (\d+) min\)", message)
    assert message.startswith("GitHub rate limit reached (403)") and reset
    assert 29 <= int(reset[2]) <= 30
    assert not writes(fake_github)


def test_a_rate_limit_that_resets_soon_is_waited_for(fake_github, settings):
    status, body, headers = rate_limited(seconds_to_reset=0)
    fake_github.fail_on("GET", "/repos/octo/widgets", status, body, headers)
    execution, change = make_execution()

    result = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    assert result.opened_pr and len(fake_github.requests_to("/repos/octo/widgets", "GET")) == 2


def test_a_secondary_rate_limit_429_says_how_long_to_wait(fake_github, settings):
    settings.GITHUB_MAX_RATE_LIMIT_WAIT = 0  # Retry-After is honoured only up to this cap
    fake_github.fail_on(
        "POST",
        "/pulls",
        429,
        {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        },
        {"Retry-After": "90"},
        times=5,
    )

    message = publish_failure(settings)

    assert message.startswith("GitHub rate limit reached (429) while opening the pull request")
    assert "GitHub asks to wait 90 s" in message
    assert len(fake_github.requests_to("/pulls", "POST")) == 1 + settings.GITHUB_RETRIES


def test_422_ref_exists_moves_the_branch(fake_github, settings):
    execution, change = make_execution()
    branch = branch_name(execution.task_id, execution.task.title)
    stale = fake_github.branch_head("main")
    fake_github.repo().refs[f"heads/{branch}"] = stale  # made by a run whose answer we never read
    fake_github.fail_on("GET", f"/git/ref/heads/{branch}", 404, {"message": "Not Found"})

    result = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    assert fake_github.branch_head(branch) == result.commit_sha != stale
    assert [r.json["force"] for r in fake_github.requests_to(f"/git/refs/heads/{branch}", "PATCH")] == [True]
    assert len(fake_github.open_pulls()) == 1


def test_422_pr_exists_finds_and_reuses_it(fake_github, settings):
    execution, change = make_execution()
    first = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")
    fake_github.fail_on("GET", "/pulls", 200, [])  # the search misses it (GitHub's index lags)

    again = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    assert (again.pr_number, again.opened_pr) == (first.pr_number, False)
    assert len(fake_github.repo().pulls) == 1


def test_422_no_commits_between_is_a_readable_failure(fake_github, settings):
    no_commits = {
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "code": "custom", "message": "No commits between main and x"}],
    }
    fake_github.fail_on("POST", "/pulls", 422, no_commits)

    message = publish_failure(settings)

    assert message.startswith("GitHub found no commits between main and ai/")
    assert "nothing to review" in message and "a retry reuses it." in message


def test_another_422_quotes_github(fake_github, settings):
    invalid = {
        "message": "Validation Failed",
        "errors": [{"resource": "Tree", "code": "invalid", "field": "path"}],
    }
    fake_github.fail_on("POST", "/git/trees", 422, invalid)

    message = publish_failure(settings)

    assert message == "GitHub could not complete creating the commit (422: Validation Failed; invalid)."


def test_a_502_is_retried_and_the_commit_made_once(fake_github, settings):
    fake_github.fail_on("POST", "/git/commits", 502, {"message": "Server Error"})
    execution, change = make_execution()

    result = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    assert len(fake_github.requests_to("/git/commits", "POST")) == 2
    assert fake_github.branch_head(result.branch) == result.commit_sha
    assert len(fake_github.open_pulls()) == 1


def test_a_lasting_5xx_fails_readably_after_the_retries(fake_github, settings):
    fake_github.fail_on("GET", "/repos/octo/widgets", 502, {"message": "Server Error"}, times=10)

    message = publish_failure(settings)

    assert message.startswith("GitHub failed while reading the repository (502, also after retries)")
    assert len(fake_github.requests_to("/repos/octo/widgets", "GET")) == 1 + settings.GITHUB_RETRIES


def test_a_lost_answer_to_opening_the_pr_reuses_the_pr_it_made(fake_github, settings):
    fake_github.fail_on("POST", "/pulls", 502, {"message": "Server Error"}, after_handling=True)
    execution, change = make_execution()

    result = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    [pull] = fake_github.repo().pulls
    assert result.pr_number == pull["number"] and result.pr_url == pull["html_url"]


def test_a_pr_whose_labelling_fails_is_still_returned_for_the_record(fake_github, settings, caplog):
    fake_github.fail_on("GET", "/labels/ai-generated", 502, {"message": "Server Error"}, times=10)
    execution, change = make_execution()

    result = GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    [pull] = fake_github.open_pulls()
    assert (result.pr_number, result.opened_pr) == (pull["number"], True)
    assert "labelling pull request" in caplog.text and settings.GITHUB_TOKEN not in caplog.text


def test_an_unreachable_github(settings, fake_github):
    settings.GITHUB_API_URL = "http://127.0.0.1:9"
    settings.GITHUB_RETRIES = 0

    message = publish_failure(settings)

    assert message.startswith("Could not reach GitHub at http://127.0.0.1:9 while reading the repository")


def test_a_malformed_repository_setting(settings):
    settings.GITHUB_TOKEN, settings.GITHUB_REPOSITORY = WRONG_TOKEN, "widgets"

    with pytest.raises(PublishError, match="GITHUB_REPOSITORY must look like owner/name, not 'widgets'"):
        GitHubGateway.from_settings()
