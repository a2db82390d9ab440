"""Each outbox event composed once into a neutral ``Message`` (title, link, text, fields, footer).

``notifications.render`` shapes a message for Discord, Slack or a generic webhook; a ``Style``
says how the target writes links and escapes free text (a task title, an error).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from budget.models import vendor_name
from budget.money import dollars_str
from budget.periods import part_of_month
from notifications.text import (
    clean,
    clip,
    count,
    day,
    number,
    parse_nanos,
    plural,
    progress_bar,
    safe_url,
    units,
    usd,
    usd_short,
)

if TYPE_CHECKING:
    from notifications.models import Event


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass
class Message:
    kind: str
    title: str
    text: str = ""
    url: str | None = None
    fields: list[Field] = field(default_factory=list)
    footer: str = ""
    simulated: bool = False


@dataclass(frozen=True)
class Style:
    """How a target writes a link and escapes free text."""

    name: str

    def esc(self, text: object) -> str:
        s = clean(text)
        if self.name == "slack":  # Slack's three control characters in mrkdwn
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if self.name == "discord":  # free text must not form a masked link or close one early
            return s.replace("[", "⁅").replace("]", "⁆")
        return s

    def link(self, text: str, url: object) -> str:
        safe = safe_url(url)
        if safe is None:
            return text
        if self.name == "slack":
            return f"<{safe}|{text}>"
        if self.name == "discord":
            return f"[{text}]({safe})"
        return f"{text} ({safe})"

    def code(self, text: object) -> str:
        s = self.esc(text).replace("`", "'")
        return s if self.name == "plain" else f"`{s}`"


DISCORD, SLACK, PLAIN = Style("discord"), Style("slack"), Style("plain")


# ---------------------------------------------------------------------------------------------
# Composition per kind


def compose(event: Event, style: Style = PLAIN) -> Message:
    """The facts of one event as a neutral message, free text escaped for ``style``."""
    kind = str(event.kind)
    payload = event.payload if isinstance(event.payload, dict) else {}
    composer = _COMPOSERS.get(kind, _compose_unknown)
    return composer(kind, payload, style)


def _month_fields(budget: dict) -> list[Field]:
    if not budget:
        return []
    executions = (
        f"{count(budget.get('executions'))} · {count(budget.get('succeeded'))} succeeded · "
        f"{count(budget.get('failed'))} failed"
    )
    prs = count(budget.get("prs"))
    if budget.get("cost_per_pr") is not None:
        prs += f" · {usd(budget['cost_per_pr'], places=2)} per PR"
    if "merged_prs" in budget:
        prs += f" · {count(budget.get('merged_prs'))} merged"
        if budget.get("cost_per_merged_pr") is not None:
            prs += f" · {usd(budget['cost_per_merged_pr'], places=2)} per merged PR"
    return [
        Field("Executions this month", executions, inline=True),
        Field("PRs this month", prs, inline=True),
    ]


def _tokens(item: dict) -> str:
    return f"{count(item.get('input_tokens'))} in / {count(item.get('output_tokens'))} out tokens"


def _model_fields(models: list) -> list[Field]:
    """One field per model: dollars and tokens (and calls, when the row counts them)."""
    fields = []
    for m in models or []:
        if not isinstance(m, dict):
            continue
        value = f"{usd(m.get('cost'))} · {_tokens(m)}"
        if "calls" in m:
            value += f" · {plural(m.get('calls'), 'call')}"
        fields.append(Field(clean(m.get("model")), value, inline=True))
    return fields


def _execution_models(calls: list) -> list[dict]:
    """An execution's calls summed per model, in call order (exact: costs added as nanodollars)."""
    totals: dict[str, dict] = {}
    for call in calls or []:
        if not isinstance(call, dict):
            continue
        row = totals.setdefault(
            str(call.get("model")),
            {"model": call.get("model"), "steps": [], "input_tokens": 0, "output_tokens": 0, "nanos": 0},
        )
        row["steps"].append(clean(call.get("step")))
        row["input_tokens"] += int(call.get("input_tokens") or 0)
        row["output_tokens"] += int(call.get("output_tokens") or 0)
        row["nanos"] += parse_nanos(call.get("cost")) or 0
    return [
        {**r, "model": f"{clean(r['model'])} ({', '.join(r['steps'])})", "cost": dollars_str(r["nanos"])}
        for r in totals.values()
    ]


def _bar_line(budget: dict) -> str:
    return progress_bar(budget.get("spent"), budget.get("limit")) if budget else ""


def _footer(budget: dict, simulated: bool) -> str:
    parts = []
    if budget.get("month"):
        parts.append(f"Budget {clean(budget['month'])}")
    if simulated:
        parts.append("Simulated run: no vendor was called")
    return " · ".join(parts)


def _compose_execution(kind: str, payload: dict, style: Style) -> Message:
    ex = payload.get("execution") or {}
    budget = payload.get("budget") or {}
    simulated = bool(ex.get("simulated"))
    mark = "[simulated] " if simulated else ""
    verb = {
        "execution_started": "started",
        "execution_completed": "completed",
        "execution_failed": "failed",
    }[kind]
    title = f"{mark}Execution #{number(ex.get('id'))} {verb}: {clean(ex.get('task_title'))}"
    lines = [_bar_line(budget)]
    if ex.get("revision"):
        lines.append("A revision: a follow-up commit on the task's pull request (or branch)")
    url = None
    if kind == "execution_completed":
        url = safe_url(ex.get("pr_url"))
        if url:
            pr = f"#{number(ex.get('pr_number'))}" if ex.get("pr_number") else "open"
            lines.append(f"Pull request: {style.link(pr, url)}")
        elif ex.get("branch"):
            sha = clean(ex.get("commit_sha"))[:12]
            lines.append(
                f"Local branch {style.code(ex['branch'])}" + (f" at {style.code(sha)}" if sha else "")
            )
    if kind == "execution_failed":
        lines.append(f"Reason: {style.esc(ex.get('error') or 'unknown')}")
    fields = []
    calls = ex.get("calls") or []
    if calls:
        fields.append(Field("Execution cost", usd(ex.get("cost")), inline=True))
        fields.append(Field("Tokens", _tokens(_token_sum(calls)), inline=True))
        fields += _model_fields(_execution_models(calls))
    fields += _month_fields(budget)
    return Message(
        kind, title, "\n".join(x for x in lines if x), url, fields, _footer(budget, simulated), simulated
    )


def _token_sum(calls: list) -> dict:
    return {
        "input_tokens": sum(int(c.get("input_tokens") or 0) for c in calls if isinstance(c, dict)),
        "output_tokens": sum(int(c.get("output_tokens") or 0) for c in calls if isinstance(c, dict)),
    }


def _compose_milestone(kind: str, payload: dict, style: Style) -> Message:
    budget = payload.get("budget") or {}
    title = f"{usd_short(payload.get('threshold'))} milestone reached — {plural(payload.get('prs'), 'PR')}"
    text = "\n".join(
        [
            _bar_line(budget),
            f"Crossed on {day(payload.get('reached_at'))} at {usd(payload.get('spent'), places=2)} spent, "
            f"after {plural(payload.get('executions'), 'execution')}.",
        ]
    )
    fields = _month_fields(budget) + _model_fields(budget.get("models"))
    if budget.get("next_milestone"):
        fields.append(Field("Next milestone", usd_short(budget["next_milestone"]), inline=True))
    return Message(kind, title, text, None, fields, _footer(budget, False))


def _compose_exhausted(kind: str, payload: dict, style: Style) -> Message:
    budget = payload.get("budget") or {}
    month = clean(budget.get("month") or "this month")
    text = "\n".join(
        [
            _bar_line(budget),
            f"The next execution needs up to {usd(payload.get('needed'))}, and {usd(budget.get('remaining'))} "
            f"remains. Executions pause until the next period opens on {day(budget.get('ends_at'))}, "
            "or until the limit is raised in the admin.",
        ]
    )
    fields = _month_fields(budget) + _model_fields(budget.get("models"))
    return Message(kind, f"Budget exhausted for {month}", text, None, fields, _footer(budget, False))


def _compose_recap(kind: str, payload: dict, style: Style) -> Message:
    """The month in one message; ``payload`` is ``notifications.recap.recap_facts``."""
    try:
        month = dt.datetime.strptime(str(payload.get("month")), "%Y-%m").strftime("%B %Y")
    except ValueError:
        month = clean(payload.get("month"))
    title = f"Recap of {month}"
    try:
        part = part_of_month(
            dt.datetime.fromisoformat(str(payload.get("starts_at"))),
            dt.datetime.fromisoformat(str(payload.get("ends_at"))),
        )
    except ValueError:
        part = None
    if part:
        title += f" ({part})"
    if payload.get("preview"):
        title += " so far (the month is not over)"
    elif payload.get("forced"):
        title += " (sent again)"
    text = "\n".join(
        [
            progress_bar(payload.get("spent"), payload.get("limit")),
            f"{plural(payload.get('executions'), 'execution')} ({count(payload.get('succeeded'))} succeeded, "
            f"{count(payload.get('failed'))} failed), {plural(payload.get('prs'), 'PR')}.",
        ]
    )
    cost_per_pr = payload.get("cost_per_pr")
    fields = [
        Field("Spent", f"{usd(payload.get('spent'))} of {usd(payload.get('limit'), places=2)}", inline=True),
        Field(
            "Cost per PR", usd(cost_per_pr, places=4) if cost_per_pr is not None else "no PRs", inline=True
        ),
        Field(
            "Executions",
            f"{count(payload.get('executions'))} · {count(payload.get('succeeded'))} succeeded · "
            f"{count(payload.get('failed'))} failed",
            inline=True,
        ),
        Field("PRs", count(payload.get("prs")), inline=True),
    ]
    fields += _merged_fields(payload, style)
    fields += _repository_fields(payload.get("repositories"), style)
    fields += _edit_fields(payload)
    fields += _model_fields(payload.get("models"))
    milestones = [
        f"{usd_short(m.get('threshold'))} on {day(m.get('reached_at'))} — {plural(m.get('prs'), 'PR')}"
        for m in payload.get("milestones") or []
        if isinstance(m, dict)
    ]
    fields.append(Field("Milestones", "\n".join(milestones) or "none reached"))
    top = [_top_line(e, style) for e in payload.get("top_executions") or [] if isinstance(e, dict)]
    if top:
        fields.append(Field("Most expensive executions", "\n".join(top)))
    batched = int(payload.get("batch_executions") or 0)
    if batched:
        fields.append(
            Field(
                "Batch mode",
                f"{plural(batched, 'execution')} in vendor batches saved {usd(payload.get('batch_saved'))}",
            )
        )
    simulated = int(payload.get("simulated_executions") or 0)
    footer = f"Budget {clean(payload.get('month'))}"
    if simulated:
        footer += f" · {simulated} of {plural(payload.get('executions'), 'execution')} simulated"
    return Message(kind, title, text, None, fields, footer, simulated > 0)


def _merged_fields(payload: dict, style: Style) -> list[Field]:
    """The recap's pull request outcomes: the headline cost per merged PR, and the merged PRs."""
    if "merged_prs" not in payload:
        return []
    per_merged = payload.get("cost_per_merged_pr")
    outcomes = (
        f"{count(payload.get('merged_prs'))} merged · {count(payload.get('closed_prs'))} closed · "
        f"{count(payload.get('open_prs'))} open"
    )
    fields = [
        Field(
            "Cost per merged PR", usd(per_merged) if per_merged is not None else "none merged", inline=True
        ),
        Field("PR outcomes", outcomes, inline=True),
    ]
    if "revisions" in payload:
        fields.append(
            Field(
                "Revisions",
                f"{plural(payload.get('revisions'), 'follow-up commit')} · "
                f"{count(payload.get('merged_after_revision'))} merged after one",
                inline=True,
            )
        )
    merged = [m for m in payload.get("merged_pull_requests") or [] if isinstance(m, dict)]
    lines = [f"{_pr_link(m, style)} {clip(style.esc(m.get('task_title')), 80)}" for m in merged]
    if lines:
        fields.append(Field("Merged PRs", _whole_lines(lines)))
    return fields


def _pr_link(m: dict, style: Style) -> str:
    return style.link(f"#{number(m.get('number'))}", m.get("url"))


def _whole_lines(lines: list[str]) -> str:
    """As many whole lines as fit a field's value (1,024), then how many more there are."""
    kept: list[str] = []
    for i, line in enumerate(lines):
        more = f"… and {len(lines) - i} more"
        if units("\n".join([*kept, line, more])) > 1024:
            kept.append(more)
            break
        kept.append(line)
    return "\n".join(kept)


def _repository_fields(repositories: object, style: Style) -> list[Field]:
    """The month per repository (one budget over all of them): spend, executions, PRs, merged."""
    rows = [r for r in repositories if isinstance(r, dict)] if isinstance(repositories, list) else []
    lines = []
    for r in rows:
        line = (
            f"{style.code(clip(r.get('repository'), 60))} {usd(r.get('spent'))} · "
            f"{plural(r.get('executions'), 'execution')} · {plural(r.get('prs'), 'PR')} · "
            f"{count(r.get('merged_prs'))} merged"
        )
        if r.get("cost_per_merged_pr") is not None:
            line += f" · {usd(r['cost_per_merged_pr'])} per merged PR"
        lines.append(line)
    return [Field("Repositories", _whole_lines(lines))] if lines else []


def _edit_fields(payload: dict) -> list[Field]:
    """How the coder's changes landed this month: on the first try, after a retry, or never."""
    first, retried, failed = (
        int(payload.get(key) or 0) for key in ("applied_first_try", "applied_after_retry", "edit_failures")
    )
    if not (first or retried or failed):
        return []
    return [
        Field(
            "Edits",
            f"{count(first)} applied on the first try · {count(retried)} after a retry · {count(failed)} never applied",
            inline=True,
        )
    ]


def _top_line(e: dict, style: Style) -> str:
    """One execution of the recap's top list; the title is cut so five lines fit a field."""
    title = clip(style.esc(e.get("task_title")), 80)
    line = f"#{number(e.get('id'))} {title} — {usd(e.get('cost'))}"
    if safe_url(e.get("pr_url")):
        line += f" · {style.link('PR', e.get('pr_url'))}"
    elif e.get("branch"):
        line += f" · {style.code(clip(e.get('branch'), 60))}"
    if e.get("simulated"):
        line += " · simulated"
    return line


def _compose_model_switched(kind: str, payload: dict, style: Style) -> Message:
    requested, used = style.esc(payload.get("requested")), style.esc(payload.get("used"))
    text = (
        f"{requested} was retired on {day(payload.get('retired_on'))}; "
        f"calls now use its successor {used}. Update the step configuration in the admin to silence this."
    )
    return Message(
        kind, f"Model switched: {clean(payload.get('requested'))} → {clean(payload.get('used'))}", text
    )


def _compose_model_retiring(kind: str, payload: dict, style: Style) -> Message:
    model = clean(payload.get("model"))
    successor = payload.get("successor")
    text = f"{style.esc(model)} retires on {day(payload.get('retires_on'))}. " + (
        f"After that date calls use its successor {style.esc(successor)}."
        if successor
        else "No successor is configured: set one in the admin, or calls will be refused."
    )
    days = payload.get("days_left")
    when = "today" if days == 0 else f"in {plural(days, 'day')}"
    title = f"Model retiring {when}: {model}"
    return Message(kind, title, text)


def _compose_usage_mismatch(kind: str, payload: dict, style: Style) -> Message:
    """A closed day on which a vendor counted other tokens than the ledger recorded: per model,
    each token class that differs (vendor vs ledger) and what the difference is worth."""
    vendor = vendor_name(clean(payload.get("vendor")))
    on = day(payload.get("day"))
    found = [d for d in payload.get("differences") or [] if isinstance(d, dict)]
    unrecorded = any(d.get("unrecorded") for d in found)
    text = (
        f"{vendor}'s usage report for {on} (UTC) and the calls the ledger recorded disagree. "
        + (
            "The vendor counted tokens for which no call was recorded: money was spent that the "
            "budget does not show. "
            if unrecorded
            else ""
        )
        + "Run `reconcile_usage` for the details, and check that day's executions."
    )
    fields = []
    for d in found:
        mode = " (batch)" if d.get("mode") == "batch" else ""
        tokens = d.get("tokens") if isinstance(d.get("tokens"), dict) else {}
        lines = [
            f"{name.replace('_', ' ')}: {count(t.get('vendor'))} vs {count(t.get('ledger'))}"
            for name, t in tokens.items()
            if isinstance(t, dict) and t.get("difference")
        ]
        if d.get("value") is not None:
            value = str(d["value"])
            lines.append(f"worth {'−' + usd(value[1:]) if value.startswith('-') else '+' + usd(value)}")
        if d.get("unrecorded"):
            lines.append("no recorded call")
        fields.append(Field(f"{clean(d.get('model'))}{mode}", "\n".join(lines) or "—", inline=True))
    return Message(kind, f"Usage differs from {vendor}'s count on {on}", style.esc(text), None, fields)


def _compose_error(kind: str, payload: dict, style: Style) -> Message:
    return Message(
        kind,
        f"Error in {clean(payload.get('where') or 'the orchestrator')}",
        style.esc(payload.get("message")),
    )


def _compose_unknown(kind: str, payload: dict, style: Style) -> Message:
    return Message(kind, kind.replace("_", " ").capitalize(), "")


_COMPOSERS = {
    "execution_started": _compose_execution,
    "execution_completed": _compose_execution,
    "execution_failed": _compose_execution,
    "milestone_reached": _compose_milestone,
    "budget_exhausted": _compose_exhausted,
    "monthly_recap": _compose_recap,
    "model_switched": _compose_model_switched,
    "model_retiring": _compose_model_retiring,
    "usage_mismatch": _compose_usage_mismatch,
    "error": _compose_error,
}
