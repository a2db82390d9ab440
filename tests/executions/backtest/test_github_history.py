"""Cases from GitHub over the GitHub fake: merged pull requests into the default branch through the
pulls API (paginated), the linked issue's text as the task, and context mode on them."""

import pytest

from executions.backtest import runs
from executions.backtest.github_history import github_cases
from executions.models import Repository, default_repository_id
from executions.repositories.gateways import get_gateway
from tests.fakes.github import SEED_FILES, serving_github

pytestmark = pytest.mark.django_db

VIEWS = SEED_FILES["app/views.py"]


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


@pytest.fixture
def history(fake_github):
    """Two real fixes, then 31 merges GitHub lists before them (more than a page of 30)."""
    issue = fake_github.open_issue("The index page greets nobody", "It should say hello to the visitor.")
    fixed = fake_github.add_merged_pull(
        "Greet the visitor",
        {
            "app/views.py": VIEWS.replace("'hi'", "'hello, visitor'"),
            "tests/test_views.py": "def test(): pass\n",
        },
        body=f"Closes #{issue['number']}.",
    )
    squashed = fake_github.add_merged_pull(
        "index() answers in JSON",
        {"app/views.py": VIEWS.replace("return HttpResponse('hi')", "return JsonResponse({'hi': 1})")},
        body="Clients want JSON.",
        squash=True,
    )
    bot = fake_github.add_merged_pull("Bump django", {"app/views.py": VIEWS + "\n"}, author="dependabot[bot]")
    docs = [
        fake_github.add_merged_pull(f"Docs {n}", {"docs/TODO.md": f"- [ ] item {n}\n"}) for n in range(31)
    ]
    return {"fixed": fixed, "squashed": squashed, "bot": bot, "docs": docs}


def test_the_cases_are_merged_pull_requests_read_page_by_page(fake_github, history):
    skipped = []

    cases = github_cases(get_gateway(), last=5, skipped=skipped)

    assert [c.number for c in cases] == [history["squashed"]["number"], history["fixed"]["number"]]
    squashed, fixed = cases
    # The task is the issue the pull request closes, not the pull request's own text.
    assert (fixed.title, fixed.description) == (
        "The index page greets nobody",
        "It should say hello to the visitor.",
    )
    assert (squashed.title, squashed.description) == ("index() answers in JSON", "Clients want JSON.")
    assert fixed.url == f"https://github.example/octo/widgets/pull/{fixed.number}"
    assert fixed.base_sha == history["fixed"]["base"]["sha"] and fixed.files == ["app/views.py"]
    assert [d.key for d in fixed.definitions] == ["app/views.py::index"]
    assert squashed.base_sha == history["squashed"]["base"]["sha"]  # the squash commit's parent
    assert dict(skipped)[history["bot"]["number"]] == "a dependency bot's"
    assert len(skipped) == 32  # 31 docs-only and the bot's
    listings = fake_github.requests_to("/repos/octo/widgets/pulls", "GET")
    assert len(listings) == 2 and listings[1].query["page"] == ["2"]  # the second page, as asked
    assert listings[1].query["state"] == ["closed"] and listings[1].query["base"] == ["main"]


def test_context_mode_runs_on_github_and_links_each_case_to_its_pull_request(
    fake_github, history, pinned_clock
):
    repository = Repository.objects.get(pk=default_repository_id())  # octo/widgets, on GitHub

    run = runs.run_context(repository, last=1)

    case = run.cases.get()
    assert (case.number, case.url) == (history["squashed"]["number"], history["squashed"]["html_url"])
    assert case.seen_files == [
        {"path": "app/views.py", "path_in_prompt": True, "content": "whole", "rank": 1, "in_map": True}
    ]
    assert (case.files_shown, case.signatures_shown, case.bodies_shown) == (1, 1, 1)
    assert not fake_github.requests_to("/pulls", "POST")  # nothing published


def test_a_case_s_text_from_github_is_cleaned_and_masked_like_any_github_text(fake_github, settings):
    """Pull request and issue text is anyone's: a secret it quotes never reaches a case's task
    (model mode sends it to both vendors), and a NUL never reaches the database."""
    token = settings.GITHUB_TOKEN
    issue = fake_github.open_issue(f"Leaked {token}", f"The token is {token}\x00 here.")
    fake_github.add_merged_pull(
        f"Fix the leak {token}",
        {"app/views.py": VIEWS.replace("'hi'", "'hello'")},
        body=f"Closes #{issue['number']}. {token}",
    )
    fake_github.add_merged_pull(
        "Say hi twice", {"app/views.py": VIEWS.replace("'hi'", "'hi hi'")}, body=f"{token}\x00", squash=True
    )

    cases = github_cases(get_gateway(), last=5, skipped=[])

    assert len(cases) == 2
    for case in cases:
        assert token not in case.title + case.description and "\x00" not in case.title + case.description
