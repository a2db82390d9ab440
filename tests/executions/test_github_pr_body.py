"""The PR description a reviewer reads: task, plan, summary, files, what it cost, and the month."""

import pytest

from executions.repositories.pr_body import GITHUB_BODY_LIMIT, pr_body_for
from tests.fakes.github import make_execution

pytestmark = pytest.mark.django_db


def test_the_body_tells_the_reviewer_everything_with_charged_figures():
    execution, change = make_execution()

    body = pr_body_for(execution, change)

    assert body.startswith(
        f"**Task:** Add health check endpoint (task #{execution.task_id}, execution #{execution.pk})"
    )
    assert "Load balancers need a cheap probe." in body
    assert "## Plan\n1. Add a view.\n2. Route it." in body
    assert "## Summary\nAdds a /health/ endpoint" in body
    assert "## Files (2)\n- `app/health.py` +5 −0\n- `app/urls.py` +5 −0" in body
    assert "**Mode:** live" in body
    # claude-sonnet-4-5: 2,000 x $3/M + 1,500 x $15/M; gpt-4o-mini: 2,000 x $0.15/M + 500 cached x
    # $0.075/M + 4,000 x $0.60/M. Exact, from what the ledger charged.
    assert "| claude-sonnet-4-5 | 1 | 2,000 | 1,500 | $0.0285 |" in body
    assert "| gpt-4o-mini | 1 | 2,500 (500 cached) | 4,000 | $0.0027375 |" in body
    assert "| **Total** | 2 | 4,500 (500 cached) | 5,500 | **$0.0312375** |" in body
    assert execution.cost_nanos == 31_237_500
    month = f"{execution.period.month:%Y-%m}"
    assert f"**Month to date ({month}):** $0.0312375 of $15.00 (0.2% of the monthly budget)." in body


def test_month_to_date_counts_other_executions_too():
    make_execution("Earlier task")
    execution, change = make_execution()

    body = pr_body_for(execution, change)

    assert "$0.062475 of $15.00" in body  # two executions charged this month
    assert "**Total** | 2 |" in body  # but this PR's table is this execution's own


def test_a_simulated_run_says_so():
    execution, change = make_execution(simulated=True)

    body = pr_body_for(execution, change)

    assert "**Simulated run**" in body and "**Mode:** live" not in body


def test_a_huge_plan_is_shortened_politely_and_the_rest_survives():
    plan = "Intro\n```python\n" + "x = 1  # a very long generated plan line\n" * 5000
    execution, change = make_execution(plan=plan)

    body = pr_body_for(execution, change)

    assert len(body) <= GITHUB_BODY_LIMIT
    assert f"more characters are in execution #{execution.pk}.)_" in body
    plan_part = body.split("## Plan\n", 1)[1].split("## Summary", 1)[0]
    assert plan_part.count("```") % 2 == 0  # the cut code block is closed again
    assert "## Files (2)" in body and "**Total**" in body and "Month to date" in body


def test_many_files_are_listed_up_to_a_point():
    files = {f"gen/file_{i:03}.py": "x = 1\n" for i in range(150)}
    execution, change = make_execution(files=files)

    body = pr_body_for(execution, change)

    assert "## Files (150)" in body and "- `gen/file_099.py` +1 −0" in body
    assert "gen/file_100.py" not in body and "- … and 50 more (see the commit)" in body
