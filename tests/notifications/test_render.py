"""Messages as Discord, Slack and a generic webhook would receive them, for every event kind."""

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from notifications import render
from notifications.models import Event
from notifications.text import clip, progress_bar, units

WHEN = dt.datetime(2026, 11, 14, 9, 30, tzinfo=dt.UTC)
PR_URL = "https://github.com/acme/app/pull/42"


def budget(spent="9.00", limit="15.00", **extra) -> dict:
    """A budget snapshot shaped like ``PeriodSummary.as_json()``."""
    return {
        "month": "2026-11",
        "starts_at": "2026-11-01T00:00:00+00:00",
        "ends_at": "2026-12-01T00:00:00+00:00",
        "limit": limit,
        "spent": spent,
        "reserved": "0.00",
        "remaining": "6.00",
        "percent": "60.0",
        "executions": 300,
        "succeeded": 290,
        "failed": 10,
        "prs": 160,
        "cost_per_pr": "0.05625",
        "models": [
            {
                "model": "claude-sonnet-4-5",
                "provider": "anthropic",
                "calls": 300,
                "input_tokens": 600000,
                "output_tokens": 450000,
                "cache_read_tokens": 0,
                "cache_write_5m_tokens": 0,
                "cache_write_1h_tokens": 0,
                "cost": "8.55",
            },
            {
                "model": "gpt-4o-mini",
                "provider": "openai",
                "calls": 290,
                "input_tokens": 725000,
                "output_tokens": 1160000,
                "cache_read_tokens": 0,
                "cache_write_5m_tokens": 0,
                "cache_write_1h_tokens": 0,
                "cost": "0.45",
            },
        ],
        "milestones": [{"threshold": "5.00", "reached_at": "2026-11-07T10:00:00+00:00", "prs": 90}],
        "next_milestone": "10.00",
        "pace": "on track",
        "even_spend": "7.00",
        "projected_spend": "12.00",
        "exhausted": False,
        **extra,
    }


def execution(**overrides) -> dict:
    facts = {
        "id": 7,
        "status": "succeeded",
        "simulated": False,
        "task_id": 3,
        "task_title": "Add a health check endpoint",
        "cost": "0.031275",
        "branch": "ai/3-add-a-health-check-endpoint",
        "commit_sha": "0123456789abcdef0123",
        "pr_number": 42,
        "pr_url": PR_URL,
        "error": "",
        "calls": [
            {
                "step": "analysis",
                "model": "claude-sonnet-4-5",
                "input_tokens": 2000,
                "output_tokens": 1500,
                "cost": "0.0285",
            },
            {
                "step": "codegen",
                "model": "gpt-4o-mini",
                "input_tokens": 2500,
                "output_tokens": 4000,
                "cost": "0.002775",
            },
        ],
    }
    return {**facts, **overrides}


def event(kind, payload, key="k") -> Event:
    return Event(kind=kind, key=key, payload=payload, created_at=WHEN)


def execution_event(kind, **overrides) -> Event:
    return event(kind, {"execution": execution(**overrides), "budget": budget()})


def embed_of(ev) -> dict:
    body = render.discord(ev)
    assert len(body["embeds"]) == 1
    return body["embeds"][0]


def fields_of(embed) -> dict:
    return {f["name"]: f["value"] for f in embed["fields"]}


# --- the truncation helper ---------------------------------------------------------------------


def test_clip_leaves_short_text_alone_and_marks_a_cut():
    assert clip("hello", 5) == "hello"
    assert clip("hello world", 8) == "hello w…"
    assert len(clip("x" * 5000, 256)) == 256


def test_clip_never_splits_an_astral_character():
    # 9 units of "a" then an emoji worth 2: only the "a"s and the ellipsis fit in 10.
    assert clip("a" * 9 + "😀" * 3, 10) == "a" * 9 + "…"
    cut = clip("😀" * 10, 7)
    assert cut == "😀😀😀…" and units(cut) == 7


def test_clip_keeps_a_base_letter_with_its_accent():
    # "e" + combining acute: the cut must not leave a bare "e" whose accent was dropped.
    assert clip("abcde\u0301fgh", 6) == "abcd…"


def test_clip_replaces_lone_surrogates_so_the_json_is_valid():
    text = clip("ok \ud83d then", 100)
    assert text == "ok \ufffd then"
    text.encode("utf-8")
    assert clip("\ud83d\ude00", 5) == "😀"  # a pair, as a JSON decoder might hand it over, is joined


def test_clip_to_nothing():
    assert clip("abc", 0) == "" and clip("abc", 1) == "…"


# --- the progress bar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spent, limit, expected",
    [
        ("0", "15.00", "░░░░░░░░░░ 0% · $0.00 of $15.00"),
        ("9.00", "15.00", "██████░░░░ 60% · $9.00 of $15.00"),
        ("15.00", "15.00", "██████████ 100% · $15.00 of $15.00"),
        ("14.999999999", "15.00", "█████████░ 99% · $15.00 of $15.00"),  # floored: never a full bar early
        ("16.50", "15.00", "██████████ 100% · $16.50 of $15.00"),  # limit lowered below the spend
        ("1.00", "0", "██████████ 100% · $1.00 of $0.00"),
        ("0", "0", "░░░░░░░░░░ 0% · $0.00 of $0.00"),
    ],
)
def test_progress_bar(spent, limit, expected):
    assert progress_bar(spent, limit) == expected


# --- Discord, per kind -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, colour",
    [
        (Event.Kind.EXECUTION_STARTED, 0x3498DB),
        (Event.Kind.EXECUTION_COMPLETED, 0x2ECC71),
        (Event.Kind.EXECUTION_FAILED, 0xE74C3C),
    ],
)
def test_execution_embeds_carry_the_month_and_the_models(kind, colour):
    embed = embed_of(execution_event(kind))

    assert embed["color"] == colour
    assert embed["title"].startswith("Execution #7 ") and embed["title"].endswith(
        ": Add a health check endpoint"
    )
    assert embed["description"].startswith("██████░░░░ 60% · $9.00 of $15.00")
    fields = fields_of(embed)
    assert fields["Execution cost"] == "$0.031275"
    assert fields["Tokens"] == "4,500 in / 5,500 out tokens"
    assert fields["claude-sonnet-4-5 (analysis)"] == "$0.0285 · 2,000 in / 1,500 out tokens"
    assert fields["gpt-4o-mini (codegen)"] == "$0.002775 · 2,500 in / 4,000 out tokens"
    assert fields["Executions this month"] == "300 · 290 succeeded · 10 failed"
    assert fields["PRs this month"] == "160 · $0.06 per PR"
    assert embed["timestamp"] == "2026-11-14T09:30:00+00:00"
    assert "simulated" not in embed["title"] + embed["footer"]["text"].lower()


def test_a_completed_execution_links_its_pull_request():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_COMPLETED))
    assert embed["title"] == "Execution #7 completed: Add a health check endpoint"
    assert embed["url"] == PR_URL
    assert f"Pull request: [#42]({PR_URL})" in embed["description"]


def test_ids_and_pr_numbers_are_written_as_github_writes_them():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_COMPLETED, id=12345, pr_number=1234))
    assert embed["title"] == "Execution #12345 completed: Add a health check endpoint"
    assert f"Pull request: [#1234]({PR_URL})" in embed["description"]


def test_a_completed_local_run_names_its_branch():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_COMPLETED, pr_url="", pr_number=None))
    assert "url" not in embed
    assert "Local branch `ai/3-add-a-health-check-endpoint` at `0123456789ab`" in embed["description"]


def test_a_doubtful_link_is_dropped_rather_than_refused_by_discord():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_COMPLETED, pr_url="javascript:alert(1)"))
    assert "url" not in embed and "javascript" not in embed["description"]


def test_a_failed_execution_says_why():
    reason = "GitHub refused creating the commit (403): the token cannot push; the task will be retried"
    embed = embed_of(execution_event(Event.Kind.EXECUTION_FAILED, status="failed", error=reason))
    assert embed["title"] == "Execution #7 failed: Add a health check endpoint"
    assert embed["description"].endswith(f"Reason: {reason}")


def test_a_simulated_run_is_marked():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_COMPLETED, simulated=True))
    assert embed["title"].startswith("[simulated] Execution #7 completed")
    assert "Simulated run: no vendor was called" in embed["footer"]["text"]


def test_a_started_execution_has_no_costs_yet():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_STARTED, status="reserved", calls=[], cost="0.00"))
    assert "Execution cost" not in fields_of(embed)
    assert fields_of(embed)["PRs this month"].startswith("160")


def test_a_milestone_says_how_many_prs_it_took():
    payload = {
        "threshold": "5.00",
        "reached_at": "2026-11-07T10:00:00+00:00",
        "spent": "5.012",
        "prs": 160,
        "executions": 170,
        "budget": budget(spent="5.012"),
    }
    embed = embed_of(event(Event.Kind.MILESTONE_REACHED, payload))

    assert embed["title"] == "$5 milestone reached — 160 PRs"
    assert embed["color"] == 0xF1C40F
    assert embed["description"].startswith("███░░░░░░░ 33% · $5.01 of $15.00")
    assert "Crossed on 2026-11-07 at $5.01 spent, after 170 executions." in embed["description"]
    fields = fields_of(embed)
    assert fields["claude-sonnet-4-5"] == "$8.55 · 600,000 in / 450,000 out tokens · 300 calls"
    assert fields["Next milestone"] == "$10"


def test_an_odd_threshold_keeps_its_cents():
    payload = {
        "threshold": "7.50",
        "reached_at": "2026-11-07T10:00:00+00:00",
        "spent": "7.5",
        "prs": 1,
        "executions": 2,
        "budget": budget(),
    }
    assert embed_of(event(Event.Kind.MILESTONE_REACHED, payload))["title"] == "$7.50 milestone reached — 1 PR"


def test_exhaustion_says_what_was_needed_and_when_it_resumes():
    payload = {"needed": "0.12", "budget": budget(spent="14.95", remaining="0.05", exhausted=True)}
    embed = embed_of(event(Event.Kind.BUDGET_EXHAUSTED, payload))

    assert embed["title"] == "Budget exhausted for 2026-11"
    assert embed["color"] == 0xE67E22
    assert embed["description"].startswith("█████████░ 99% · $14.95 of $15.00")
    assert "needs up to $0.12, and $0.05 remains" in embed["description"]
    assert "2026-12-01" in embed["description"]


def test_model_events_and_errors():
    switched = embed_of(
        event(
            Event.Kind.MODEL_SWITCHED,
            {"requested": "claude-sonnet-4-5", "used": "claude-sonnet-5-5", "retired_on": "2026-11-30"},
        )
    )
    assert switched["title"] == "Model switched: claude-sonnet-4-5 → claude-sonnet-5-5"
    retiring = embed_of(
        event(
            Event.Kind.MODEL_RETIRING,
            {"model": "claude-sonnet-4-5", "retires_on": "2026-11-30", "successor": None, "days_left": 5},
        )
    )
    assert retiring["title"] == "Model retiring in 5 days: claude-sonnet-4-5"
    tomorrow = {"model": "m", "retires_on": "2026-11-30", "successor": "n", "days_left": 1}
    assert embed_of(event(Event.Kind.MODEL_RETIRING, tomorrow))["title"] == "Model retiring in 1 day: m"
    assert "No successor is configured" in retiring["description"]
    error = embed_of(event(Event.Kind.ERROR, {"where": "delivery", "message": "Discord answered 500"}))
    assert (error["title"], error["description"]) == ("Error in delivery", "Discord answered 500")
    colours = {switched["color"], retiring["color"], error["color"]}
    assert len(colours) == 3


def test_a_usage_mismatch_names_the_day_each_model_and_what_it_is_worth():
    tokens = {
        "input": {"vendor": 4000, "ledger": 2000, "difference": 2000},
        "cached": {"vendor": 0, "ledger": 0, "difference": 0},
        "cache_write": {"vendor": 0, "ledger": 0, "difference": 0},
        "output": {"vendor": 3000, "ledger": 1500, "difference": 1500},
    }
    differences = [
        {"vendor": "anthropic", "day": "2026-11-14", "model": "claude-sonnet-4-5", "mode": "standard",
         "tokens": tokens, "recorded_calls": 1, "value": "0.0285", "over_tolerance": True,
         "unrecorded": False, "provisional": False},
        {"vendor": "anthropic", "day": "2026-11-14", "model": "claude-haiku-4-5", "mode": "batch",
         "tokens": {**tokens, "output": {"vendor": 0, "ledger": 10, "difference": -10}}, "recorded_calls": 0,
         "value": "-0.000025", "over_tolerance": True, "unrecorded": True, "provisional": False},
    ]  # fmt: skip
    body = render.discord(event(Event.Kind.USAGE_MISMATCH, {"vendor": "anthropic", "day": "2026-11-14", "differences": differences}))  # fmt: skip
    assert_within_discord_limits(body)
    [embed] = body["embeds"]
    assert embed["title"] == "Usage differs from Anthropic's count on 2026-11-14"
    assert "no call was recorded" in embed["description"]
    fields = fields_of(embed)
    assert fields["claude-sonnet-4-5"] == "input: 4,000 vs 2,000\noutput: 3,000 vs 1,500\nworth +$0.0285"
    assert fields["claude-haiku-4-5 (batch)"].endswith("worth −$0.000025\nno recorded call")


def test_every_kind_has_its_own_colour():
    assert set(render.COLOURS) == set(Event.Kind.values)
    assert len(set(render.COLOURS.values())) == len(render.COLOURS)


def test_nobody_is_pinged_by_a_task_title():
    body = render.discord(execution_event(Event.Kind.EXECUTION_STARTED, task_title="@everyone look"))
    assert body["allowed_mentions"] == {"parse": []}


def test_free_text_cannot_form_a_masked_link():
    embed = embed_of(execution_event(Event.Kind.EXECUTION_FAILED, error="see [here](https://evil.example)"))
    assert "[here](" not in embed["description"]


def test_too_many_models_still_leaves_at_most_25_fields():
    models = [
        {"model": f"model-{i}", "cost": "0.01", "input_tokens": 1, "output_tokens": 1, "calls": 1}
        for i in range(40)
    ]
    payload = {
        "threshold": "5.00",
        "reached_at": "2026-11-07T10:00:00+00:00",
        "spent": "5",
        "prs": 1,
        "executions": 1,
        "budget": budget(models=models),
    }
    embed = embed_of(event(Event.Kind.MILESTONE_REACHED, payload))
    assert len(embed["fields"]) == 25
    assert embed["fields"][-1]["value"].endswith("more not shown")


# --- Slack and the generic webhook -------------------------------------------------------------


def test_slack_carries_the_same_facts_in_blocks():
    body = render.slack(execution_event(Event.Kind.EXECUTION_COMPLETED, task_title="Fix <b> & <@here>"))

    assert body["text"] == "Execution #7 completed: Fix <b> & <@here>"
    types = [b["type"] for b in body["blocks"]]
    assert types[:2] == ["header", "section"] and types[-1] == "context"
    section = body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert section["text"].startswith(
        f"<{PR_URL}|*Execution #7 completed: Fix &lt;b&gt; &amp; &lt;@here&gt;*>"
    )
    assert "██████░░░░ 60% · $9.00 of $15.00" in section["text"]
    assert f"Pull request: <{PR_URL}|#42>" in section["text"]
    field_texts = [f["text"] for b in body["blocks"] if "fields" in b for f in b["fields"]]
    assert "*Execution cost*\n$0.031275" in field_texts
    assert "*claude-sonnet-4-5 (analysis)*\n$0.0285 · 2,000 in / 1,500 out tokens" in field_texts
    assert all(len(b.get("fields", [])) <= 10 for b in body["blocks"])


def test_the_generic_webhook_is_a_stable_json_object():
    ev = execution_event(Event.Kind.EXECUTION_FAILED, error="boom", status="failed")
    body = render.webhook(ev)

    assert set(body) == {"kind", "key", "created_at", "title", "text", "url", "simulated", "fields", "facts"}
    assert body["kind"] == "execution_failed" and body["key"] == "k"
    assert body["created_at"] == "2026-11-14T09:30:00+00:00"
    assert body["title"] == "Execution #7 failed: Add a health check endpoint"
    assert "Reason: boom" in body["text"]
    assert {"name": "Execution cost", "value": "$0.031275"} in body["fields"]
    assert body["facts"] == ev.payload  # the recorded facts, money as decimal strings
    assert json.loads(json.dumps(body)) == body


# --- the events the pipeline really writes -----------------------------------------------------


@pytest.mark.django_db
def test_the_events_of_a_real_simulated_run_render_everywhere(pinned_clock):
    from executions.backlog.services import create_task
    from executions.pipeline.runner import run_execution

    run_execution(create_task(title="Document the settings"))

    events = list(Event.objects.order_by("pk"))
    assert [e.kind for e in events] == ["execution_started", "execution_completed"]
    completed = embed_of(events[1])
    assert (
        completed["title"] == f"[simulated] Execution #{events[1].payload['execution']['id']} completed: "
        "Document the settings"
    )
    assert "Local branch `ai/" in completed["description"]
    assert fields_of(completed)["Execution cost"] == "$0.031275"
    for ev in events:
        for body in (render.discord(ev), render.slack(ev), render.webhook(ev)):
            assert json.loads(json.dumps(body, ensure_ascii=False)) == body


# --- any text at all stays within Discord's limits ---------------------------------------------

LIMITS = {"title": 256, "description": 4096, "footer": 2048}

PIECES = st.one_of(
    st.characters(),  # any code point but lone surrogates
    st.sampled_from(
        ["😀", "👍🏽", "👨‍👩‍👧", "e\u0301", "\u0301", "\u200d", "\ufe0f", "\ud83d", "\ude00", "[", "`"]
    ),
)
# Up to 5,000 characters of anything: emoji, skin tones, ZWJ sequences, combining marks, lone
# surrogates (which a JSON decoder can hand over), and often long enough to need cutting.
nasty = st.one_of(
    st.lists(PIECES, max_size=50),
    st.lists(PIECES, min_size=1000, max_size=5000),
).map(lambda pieces: "".join(pieces)[:5000])


def assert_within_discord_limits(body: dict) -> None:
    text = json.dumps(body, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate survives
    assert json.loads(text) == body
    assert set(body) <= {"content", "embeds", "allowed_mentions"}
    assert len(body.get("content", "")) <= render.CONTENT_MAX
    assert 1 <= len(body["embeds"]) <= 10
    total = 0
    for embed in body["embeds"]:
        for name, most in LIMITS.items():
            value = embed.get(name, "") if name != "footer" else embed.get("footer", {}).get("text", "")
            assert len(value) <= units(value) <= most, name
        assert len(embed.get("fields", [])) <= 25
        for f in embed.get("fields", []):
            assert 0 < units(f["name"]) <= 256 and 0 < units(f["value"]) <= 1024
        assert isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF
        total += render.embed_length(embed)
    assert total <= 6000


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=nasty, error=nasty)
def test_any_title_and_error_still_yield_a_valid_discord_payload(title, error):
    failed = execution_event(Event.Kind.EXECUTION_FAILED, task_title=title, error=error, branch=title)
    assert_within_discord_limits(render.discord(failed))
    completed = execution_event(Event.Kind.EXECUTION_COMPLETED, task_title=title, pr_url="", branch=error)
    assert_within_discord_limits(render.discord(completed))
    assert_within_discord_limits(render.discord(event(Event.Kind.ERROR, {"where": title, "message": error})))
    recap = {
        "month": "2026-11",
        "limit": "15.00",
        "spent": "9.00",
        "executions": 3,
        "succeeded": 2,
        "failed": 1,
        "prs": 2,
        "cost_per_pr": "4.50",
        "models": [{"model": title, "cost": "1", "input_tokens": 1, "output_tokens": 1, "calls": 1}] * 30,
        "milestones": [{"threshold": "5.00", "reached_at": "2026-11-07T10:00:00+00:00", "prs": 1}] * 3,
        "top_executions": [{"id": i, "task_title": title, "cost": "1.5", "pr_url": PR_URL} for i in range(5)],
        "simulated_executions": 0,
    }
    assert_within_discord_limits(render.discord(event(Event.Kind.MONTHLY_RECAP, recap)))
    for body in (render.slack(failed), render.webhook(failed)):
        json.dumps(body, ensure_ascii=False).encode("utf-8")
