"""The monthly recap: what the ledger charged, recorded and announced once, resent only by force."""

import datetime as dt
import itertools
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from budget.models import Period, Threshold
from budget.money import dollars_str, format_usd, to_nanos
from budget.periods import current_period
from executions.backlog.services import create_task
from executions.costs.recap import send_recap
from executions.jobs import roll_over_periods
from executions.models import Execution, ModelCall, StepConfig
from executions.pipeline.runner import run_execution
from executions.repositories.base import PublishError, PublishResult, Snapshot, branch_name
from notifications import render
from notifications.models import Event
from tests.executions.test_two_processes import test_database_url

pytestmark = pytest.mark.django_db

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
OCTOBER_DAY = dt.datetime(2026, 10, 10, 9, 0, tzinfo=dt.UTC)
NOVEMBER_FIRST = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)


class PullRequestGateway:
    """A repository that opens a pull request for every change (numbers count up), in memory."""

    name = "github"

    def __init__(self, refuse: bool = False):
        self.refuse = refuse
        self.numbers = itertools.count(100)

    def read_file(self, path):
        return None

    def snapshot(self) -> Snapshot:
        return Snapshot(name="acme/app", default_branch="main", commit_sha="a" * 40)

    def list_files(self, commit_sha):
        return {"README.md": 7}

    def read_files(self, commit_sha, paths):
        return {"README.md": b"# App\n\n"} if "README.md" in paths else {}

    def publish(self, execution, change, *, pr_body) -> PublishResult:
        if self.refuse:
            raise PublishError("GitHub refused creating the commit (403): the token cannot push.")
        number = next(self.numbers)
        return PublishResult(
            branch=branch_name(execution.task_id, execution.task.title),
            commit_sha=f"{number:040x}",
            pr_number=number,
            pr_url=f"https://github.com/acme/app/pull/{number}",
            opened_pr=True,
        )


@pytest.fixture
def october():
    """A month of simulated runs on two analysis models: 7 executions, 1 failed, 6 PRs, a milestone."""
    Threshold.objects.create(amount_nanos=to_nanos("0.10"))
    gateway = PullRequestGateway()
    with time_machine.travel(OCTOBER_DAY, tick=False) as clock:
        for i in range(4):
            run_execution(create_task(title=f"Sonnet task {i}"), gateway=gateway)
            clock.shift(dt.timedelta(hours=1))
        run_execution(create_task(title="Refused task"), gateway=PullRequestGateway(refuse=True))
        StepConfig.objects.filter(step="analysis").update(model_name="claude-haiku-4-5")
        for i in range(2):
            clock.shift(dt.timedelta(hours=1))
            run_execution(create_task(title=f"Haiku task {i}"), gateway=gateway)
        period = current_period()
    return period


def test_the_recap_says_what_the_ledger_charged(october):
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        assert send_recap(october) is True
    facts = Event.objects.get(kind=Event.Kind.MONTHLY_RECAP).payload

    calls = ModelCall.objects.filter(execution__period=october)
    charged = calls.aggregate(total=Sum("cost_nanos"))["total"]
    assert facts["month"] == "2026-10" and facts["limit"] == "15.00"
    assert facts["spent"] == dollars_str(charged)
    assert (facts["executions"], facts["succeeded"], facts["failed"], facts["prs"]) == (7, 6, 1, 6)
    assert facts["cost_per_pr"] == dollars_str(charged // 6)
    per_model = {
        row["model"]: row
        for row in calls.values("model").annotate(
            cost=Sum("cost_nanos"), input=Sum("input_tokens"), output=Sum("output_tokens")
        )
    }
    assert {m["model"] for m in facts["models"]} == {"claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o-mini"}
    for m in facts["models"]:
        expected = per_model[m["model"]]
        assert (m["cost"], m["input_tokens"], m["output_tokens"]) == (
            dollars_str(expected["cost"]),
            expected["input"],
            expected["output"],
        )
    (milestone,) = facts["milestones"]
    assert milestone["threshold"] == "0.10" and milestone["reached_at"].startswith("2026-10-10")
    assert milestone["prs"] == 3  # the $0.10 line fell during the fourth run, after three PRs
    top = facts["top_executions"]
    expensive = Execution.objects.filter(period=october).order_by("-cost_nanos", "pk")[:5]
    assert [(e["id"], e["cost"]) for e in top] == [(x.pk, dollars_str(x.cost_nanos)) for x in expensive]
    assert top[0]["task_title"] == "Sonnet task 0"
    assert top[0]["pr_url"] == "https://github.com/acme/app/pull/100"
    assert facts["simulated_executions"] == 7


def test_the_recap_is_recorded_and_sent_once(october):
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        first, second = send_recap(october), send_recap(october)

    assert (first, second) == (True, False)
    (event,) = Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP)
    assert event.key == f"recap:{october.pk}"
    october.refresh_from_db()
    assert october.recapped_at == NOVEMBER_FIRST
    assert event.payload["spent"] == dollars_str(october.spent_nanos)
    assert "forced" not in event.payload


def test_force_sends_it_again_as_a_new_event(october):
    with time_machine.travel(NOVEMBER_FIRST, tick=False) as clock:
        send_recap(october)
        clock.shift(dt.timedelta(days=2))
        assert send_recap(october, force=True) is True

    first, again = Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP).order_by("pk")
    assert again.key.startswith(f"recap:{october.pk}:forced:")
    assert again.payload["forced"] is True and again.payload["preview"] is False
    assert again.payload["spent"] == first.payload["spent"]
    october.refresh_from_db()
    assert october.recapped_at == NOVEMBER_FIRST  # the first send is still the one on record
    assert render.discord(again)["embeds"][0]["title"] == "Recap of October 2026 (sent again)"


def test_a_forced_recap_of_a_month_not_over_is_a_preview_that_does_not_count(october):
    with time_machine.travel(OCTOBER_DAY + dt.timedelta(days=5), tick=False):
        assert send_recap(october, force=True) is True
    october.refresh_from_db()
    assert october.recapped_at is None
    (preview,) = Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP)
    assert preview.payload["preview"] is True
    assert "so far" in render.discord(preview)["embeds"][0]["title"]
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        assert send_recap(october) is True  # the real recap still goes out


def test_the_recap_embed_carries_every_fact(october):
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        send_recap(october)
    event = Event.objects.get(kind=Event.Kind.MONTHLY_RECAP)
    october.refresh_from_db()

    embed = render.discord(event)["embeds"][0]

    spent = october.spent_nanos
    assert embed["title"] == "Recap of October 2026"
    assert embed["color"] == 0x9B59B6
    assert embed["description"].startswith("░░░░░░░░░░ 1% · $0.18 of $15.00")
    assert "7 executions (6 succeeded, 1 failed), 6 PRs." in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Spent"] == f"${dollars_str(spent)} of $15.00"
    assert fields["Cost per PR"] == format_usd(spent // 6, places=4) == "$0.0302"
    assert fields["Executions"] == "7 · 6 succeeded · 1 failed" and fields["PRs"] == "6"
    assert fields["claude-sonnet-4-5"] == "$0.1425 · 10,000 in / 7,500 out tokens · 5 calls"
    assert fields["Milestones"] == "$0.10 on 2026-10-10 — 3 PRs"
    top = fields["Most expensive executions"].splitlines()
    assert len(top) == 5
    first = Execution.objects.filter(period=october).order_by("-cost_nanos", "pk").first()
    assert top[0] == (
        f"#{first.pk} Sonnet task 0 — ${dollars_str(first.cost_nanos)} · "
        "[PR](https://github.com/acme/app/pull/100) · simulated"
    )
    assert embed["footer"]["text"] == "Budget 2026-10 · 7 of 7 executions simulated"
    assert render.embed_length(embed) <= 6000


def test_the_monthly_check_recaps_last_month_once(october):
    with time_machine.travel(NOVEMBER_FIRST, tick=False) as clock:
        first = roll_over_periods()
        clock.shift(dt.timedelta(hours=1))
        second = roll_over_periods()

    assert first == "open period 2026-11; recaps recorded: 1"
    assert second == "open period 2026-11; recaps recorded: 0"
    assert Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP, key=f"recap:{october.pk}").count() == 1


# --- send_recap ----------------------------------------------------------------------------------


def run_send_recap(*args) -> str:
    out = StringIO()
    call_command("send_recap", *args, stdout=out)
    return out.getvalue().strip()


def test_send_recap_sends_last_month_once_then_says_when(october):
    with time_machine.travel(NOVEMBER_FIRST + dt.timedelta(days=2), tick=False):
        first = run_send_recap()
        second = run_send_recap()
    october.refresh_from_db()

    assert first == "Recap of 2026-10 sent: $0.18 of $15.00 spent, 7 executions, 6 PRs."
    assert second == (
        "The recap of 2026-10 was already sent on 2026-11-03 00:05 UTC; use --force to send it again."
    )
    assert Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP).count() == 1


def test_send_recap_force_sends_again(october):
    with time_machine.travel(NOVEMBER_FIRST + dt.timedelta(days=2), tick=False) as clock:
        run_send_recap("--month", "2026-10")
        clock.shift(dt.timedelta(minutes=1))
        out = run_send_recap("--month", "2026-10", "--force")

    assert out.startswith("Recap of 2026-10 sent:")
    assert Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP).count() == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--month", "2026-13"], "month must look like 2026-11, not '2026-13'"),
        (["--month", "October"], "month must look like 2026-11, not 'October'"),
        (["--month", "2025-01"], "no budget period for 2025-01: nothing was spent that month"),
        (
            ["--month", "2026-10"],
            "2026-10 is not over yet: its recap goes out on 2026-11-01; use --force to send a preview now",
        ),
    ],
)
def test_send_recap_refuses_bad_usage_with_exit_code_2(october, args, message):
    with time_machine.travel(OCTOBER_DAY, tick=False), pytest.raises(CommandError) as exc:
        run_send_recap(*args)
    assert (str(exc.value), exc.value.returncode) == (message, 2)
    assert not Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP).exists()


def test_send_recap_with_no_period_for_last_month():
    with time_machine.travel(NOVEMBER_FIRST, tick=False), pytest.raises(CommandError) as exc:
        run_send_recap()
    assert (str(exc.value), exc.value.returncode) == (
        "no budget period for 2026-10: nothing was spent that month",
        2,
    )


def test_send_recap_force_previews_the_running_month(october):
    with time_machine.travel(OCTOBER_DAY, tick=False):
        out = run_send_recap("--month", "2026-10", "--force")
    assert out.startswith("Recap of 2026-10 sent:")
    october.refresh_from_db()
    assert october.recapped_at is None


def test_send_recap_reports_bad_usage_as_exit_code_2_on_one_line(settings):
    done = subprocess.run(
        [sys.executable, str(MANAGE), "send_recap", "--month", "2026/10"],
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "1",  # development settings: no SECRET_KEY needed
            "DATABASE_URL": test_database_url(),
            "LOCAL_REPO_PATH": settings.LOCAL_REPO_PATH,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "CommandError: month must look like 2026-11, not '2026/10'"
    assert done.stdout == ""


def test_a_period_cut_short_by_a_reset_is_recapped_with_its_month(october):
    with time_machine.travel(OCTOBER_DAY + dt.timedelta(days=1), tick=False):
        call_command("reset_budget", "--yes", stdout=StringIO())
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        out = run_send_recap()
    # One recap per period, each saying which part of the month it covers.
    assert out.splitlines()[0].startswith("Recap of 2026-10 (Oct 1–11) sent: $0.18")
    assert (
        out.splitlines()[1]
        == "Recap of 2026-10 (Oct 11–31) sent: $0.00 of $15.00 spent, 0 executions, 0 PRs."
    )
    assert Period.objects.filter(month=dt.date(2026, 10, 1), recapped_at__isnull=False).count() == 2
    titles = [
        render.discord(e)["embeds"][0]["title"]
        for e in Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP).order_by("pk")
    ]
    assert titles == ["Recap of October 2026 (Oct 1–11)", "Recap of October 2026 (Oct 11–31)"]


def test_a_whole_month_is_recapped_without_dates(october):
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        run_send_recap()
    [event] = Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP)
    assert render.discord(event)["embeds"][0]["title"] == "Recap of October 2026"


# --- through the outbox, to a fake Discord that refuses what Discord would refuse ----------------


def test_the_recap_reaches_discord_once_and_within_its_limits(october, make_channel, discord):
    from notifications.delivery import deliver

    make_channel()
    long_title = "Ünïcödé 👨‍👩‍👧 title " * 20  # 300 characters, the most a task title holds
    with time_machine.travel(OCTOBER_DAY + dt.timedelta(days=1), tick=False):
        run_execution(create_task(title=long_title[:300]), gateway=PullRequestGateway())
    assert set(deliver()) == {"sent"}  # the executions' own messages, the long title's included
    sent_before = len(discord.messages)

    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        send_recap(october)
        send_recap(october)
        counts = deliver()

    assert counts == {"sent": 1}
    (body,) = discord.messages[sent_before:]
    embed = body["embeds"][0]
    assert embed["title"] == "Recap of October 2026"
    assert "8 executions (7 succeeded, 1 failed), 7 PRs." in embed["description"]


@pytest.mark.postgres
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_recapping_at_once_send_one_recap():
    with time_machine.travel(OCTOBER_DAY, tick=False):
        october = current_period()
    results, errors = [], []
    start = threading.Barrier(4)

    def work():
        try:
            start.wait()
            results.append(send_recap(Period.objects.get(pk=october.pk), now=NOVEMBER_FIRST))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert not errors, errors
    assert sorted(results) == [False, False, False, True]
    assert Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP).count() == 1


def test_a_quiet_month_still_gets_a_plain_recap():
    with time_machine.travel(OCTOBER_DAY, tick=False):
        quiet = current_period()
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        assert send_recap(quiet)

    event = Event.objects.get(kind=Event.Kind.MONTHLY_RECAP)
    assert (event.payload["spent"], event.payload["cost_per_pr"], event.payload["top_executions"]) == (
        "0.00",
        None,
        [],
    )
    embed = render.discord(event)["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert (
        embed["description"]
        == "░░░░░░░░░░ 0% · $0.00 of $15.00\n0 executions (0 succeeded, 0 failed), 0 PRs."
    )
    assert (fields["Cost per PR"], fields["Milestones"]) == ("no PRs", "none reached")
    assert "Most expensive executions" not in fields
