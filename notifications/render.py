"""Messages: every outbox event rendered for Discord, Slack and a generic JSON webhook.

Pure functions of the ``Event`` row (kind, key, payload, created_at): no database, no network,
so a delivery retried an hour later sends the same body. Each kind is composed once into a
neutral ``Message`` (title, link, text, fields, footer, colour); the three renderers only shape it.

Discord rejects a whole message (400) when one text is over its limit, so every Discord text is
cut by ``clip`` to the limits below, counted in UTF-16 code units: never fewer than the characters
(code points) Discord counts, so a cut fits whichever way it is counted, and a cut never lands
inside a character or a surrogate pair.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from budget.money import MoneyError, format_usd, to_nanos

if TYPE_CHECKING:
    from notifications.models import Event

ELLIPSIS = "…"

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000
URL_MAX = 2048

# Slack Block Kit limits.
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_PER_SECTION = 10

# One colour per kind (0xRRGGBB): start blue, success green, failure red, milestone gold,
# exhausted orange, recap purple.
COLOURS = {
    "execution_started": 0x3498DB,
    "execution_completed": 0x2ECC71,
    "execution_failed": 0xE74C3C,
    "milestone_reached": 0xF1C40F,
    "budget_exhausted": 0xE67E22,
    "monthly_recap": 0x9B59B6,
    "model_retiring": 0x95A5A6,
    "model_switched": 0x1ABC9C,
    "error": 0x992D22,
}
DEFAULT_COLOUR = 0x607D8B

BAR_WIDTH = 10
_JOINERS = {"\u200d", "\u034f"}  # zero-width joiner, combining grapheme joiner


# ---------------------------------------------------------------------------------------------
# Text helpers


def clean(text: object) -> str:
    """``text`` as a string that encodes to UTF-8: surrogate pairs joined, lone surrogates → U+FFFD."""
    s = "" if text is None else str(text)
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def units(text: str) -> int:
    """Length in UTF-16 code units: a character outside the BMP (an emoji) counts 2."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def clip(text: object, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units, ending in "…" when it was cut.

    The cut is at a character boundary and backs off (a little) so it does not separate a base
    character from its combining marks or split a zero-width-joiner sequence.
    """
    s = clean(text)
    if units(s) <= limit:
        return s
    if limit <= 0:
        return ""
    budget = limit - 1  # room for the ellipsis, itself one unit
    cut, used = 0, 0
    for ch in s:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > budget:
            break
        used += size
        cut += 1
    for _ in range(8):  # a bounded back-off: a run of combining marks must not empty the text
        if cut and (_attaches(s[cut]) or s[cut - 1] in _JOINERS):
            cut -= 1
        else:
            break
    return s[:cut].rstrip() + ELLIPSIS


def _attaches(ch: str) -> bool:
    """A character that belongs to the one before it (combining mark, joiner, variation selector)."""
    return bool(unicodedata.combining(ch)) or ch in _JOINERS or 0xFE00 <= ord(ch) <= 0xFE0F


def _nanos(dollars: object) -> int | None:
    try:
        return to_nanos(str(dollars))
    except (MoneyError, TypeError):
        return None


def usd(dollars: object, *, places: int | None = None) -> str:
    """A payload's decimal-string dollars for display: exact (``$0.031275``) or rounded."""
    nanos = _nanos(dollars)
    if nanos is None:
        return "—" if dollars is None else f"${clean(dollars)}"
    return format_usd(nanos, places=places)


def usd_short(dollars: object) -> str:
    """``$5`` for whole dollars, else ``$7.50`` (thresholds and milestones)."""
    nanos = _nanos(dollars)
    if nanos is not None and nanos % 1_000_000_000 == 0:
        return format_usd(nanos, places=0)
    return usd(dollars, places=2)


def progress_bar(spent: object, limit: object, *, width: int = BAR_WIDTH) -> str:
    """``██████░░░░ 60% · $9.00 of $15.00``: integer arithmetic, floored, clamped to 0–100%.

    Floored so that 99.9% never shows a full bar; clamped so a limit lowered below the spend
    (or a zero limit) still draws a sane bar.
    """
    spent_n, limit_n = _nanos(spent) or 0, _nanos(limit) or 0
    if limit_n <= 0:
        percent = 100 if spent_n > 0 else 0
    else:
        percent = min(max(spent_n * 100 // limit_n, 0), 100)
    filled = (
        0
        if limit_n <= 0 and not spent_n
        else (width if limit_n <= 0 else min(max(spent_n * width // limit_n, 0), width))
    )
    bar = "█" * filled + "░" * (width - filled)
    return f"{bar} {percent}% · {usd(spent, places=2)} of {usd(limit, places=2)}"


def _int(value: object) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def _date(iso: object) -> str:
    try:
        return dt.datetime.fromisoformat(str(iso)).date().isoformat()
    except ValueError:
        return clean(iso)


def _safe_url(url: object) -> str | None:
    """A URL Discord and Slack accept (http/https, no spaces, not too long), else None.

    An invalid embed URL makes Discord refuse the whole message, so a doubtful one is dropped.
    """
    s = clean(url).strip()
    if s.startswith(("https://", "http://")) and len(s) <= URL_MAX and not any(c.isspace() for c in s):
        return s
    return None


# ---------------------------------------------------------------------------------------------
# The neutral message


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
        if self.name == "discord":  # keep a title from closing the link text early
            return s.replace("[", "⁅").replace("]", "⁆")
        return s

    def link(self, text: str, url: object) -> str:
        safe = _safe_url(url)
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
        f"{_int(budget.get('executions'))} · {_int(budget.get('succeeded'))} succeeded · "
        f"{_int(budget.get('failed'))} failed"
    )
    prs = _int(budget.get("prs"))
    if budget.get("cost_per_pr") is not None:
        prs += f" · {usd(budget['cost_per_pr'], places=2)} per PR"
    return [
        Field("Executions this month", executions, inline=True),
        Field("PRs this month", prs, inline=True),
    ]


def _tokens(item: dict) -> str:
    return f"{_int(item.get('input_tokens'))} in / {_int(item.get('output_tokens'))} out tokens"


def _model_fields(models: list, *, prefix: str = "") -> list[Field]:
    """One field per model: dollars and tokens (and calls, when the row counts them)."""
    fields = []
    for m in models or []:
        if not isinstance(m, dict):
            continue
        value = f"{usd(m.get('cost'))} · {_tokens(m)}"
        if "calls" in m:
            value += f" · {_int(m.get('calls'))} calls"
        fields.append(Field(f"{prefix}{clean(m.get('model'))}", value, inline=True))
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
        row["nanos"] += _nanos(call.get("cost")) or 0
    return [
        {**r, "model": f"{clean(r['model'])} ({', '.join(r['steps'])})", "cost": format_usd(r["nanos"])[1:]}
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
    title = f"{mark}Execution #{_int(ex.get('id'))} {verb}: {clean(ex.get('task_title'))}"
    lines = [_bar_line(budget)]
    url = None
    if kind == "execution_completed":
        url = _safe_url(ex.get("pr_url"))
        if url:
            number = f"#{_int(ex.get('pr_number'))}" if ex.get("pr_number") else "open"
            lines.append(f"Pull request: {style.link(number, url)}")
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
    title = f"{usd_short(payload.get('threshold'))} milestone reached — {_int(payload.get('prs'))} PRs"
    text = "\n".join(
        [
            _bar_line(budget),
            f"Crossed on {_date(payload.get('reached_at'))} at {usd(payload.get('spent'), places=2)} spent, "
            f"after {_int(payload.get('executions'))} executions.",
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
            f"remains. Executions pause until the next period opens on {_date(budget.get('ends_at'))}, "
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
    if payload.get("preview"):
        title += " so far (the month is not over)"
    elif payload.get("forced"):
        title += " (sent again)"
    text = "\n".join(
        [
            progress_bar(payload.get("spent"), payload.get("limit")),
            f"{_int(payload.get('executions'))} executions ({_int(payload.get('succeeded'))} succeeded, "
            f"{_int(payload.get('failed'))} failed), {_int(payload.get('prs'))} PRs.",
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
            f"{_int(payload.get('executions'))} · {_int(payload.get('succeeded'))} succeeded · "
            f"{_int(payload.get('failed'))} failed",
            inline=True,
        ),
        Field("PRs", _int(payload.get("prs")), inline=True),
    ]
    fields += _model_fields(payload.get("models"))
    milestones = [
        f"{usd_short(m.get('threshold'))} on {_date(m.get('reached_at'))} — {_int(m.get('prs'))} PRs"
        for m in payload.get("milestones") or []
        if isinstance(m, dict)
    ]
    fields.append(Field("Milestones", "\n".join(milestones) or "none reached"))
    top = [_top_line(e, style) for e in payload.get("top_executions") or [] if isinstance(e, dict)]
    if top:
        fields.append(Field("Most expensive executions", "\n".join(top)))
    simulated = int(payload.get("simulated_executions") or 0)
    footer = f"Budget {clean(payload.get('month'))}"
    if simulated:
        footer += f" · {simulated} of {_int(payload.get('executions'))} executions simulated"
    return Message(kind, title, text, None, fields, footer, simulated > 0)


def _top_line(e: dict, style: Style) -> str:
    """One execution of the recap's top list; the title is cut so five lines fit a field."""
    title = clip(style.esc(e.get("task_title")), 80)
    line = f"#{_int(e.get('id'))} {title} — {usd(e.get('cost'))}"
    if _safe_url(e.get("pr_url")):
        line += f" · {style.link('PR', e.get('pr_url'))}"
    elif e.get("branch"):
        line += f" · {style.code(clip(e.get('branch'), 60))}"
    if e.get("simulated"):
        line += " · simulated"
    return line


def _compose_model_switched(kind: str, payload: dict, style: Style) -> Message:
    requested, used = style.esc(payload.get("requested")), style.esc(payload.get("used"))
    text = (
        f"{requested} was retired on {_date(payload.get('retired_on'))}; "
        f"calls now use its successor {used}. Update the step configuration in the admin to silence this."
    )
    return Message(
        kind, f"Model switched: {clean(payload.get('requested'))} → {clean(payload.get('used'))}", text
    )


def _compose_model_retiring(kind: str, payload: dict, style: Style) -> Message:
    model = clean(payload.get("model"))
    successor = payload.get("successor")
    text = f"{style.esc(model)} retires on {_date(payload.get('retires_on'))}. " + (
        f"After that date calls use its successor {style.esc(successor)}."
        if successor
        else "No successor is configured: set one in the admin, or calls will be refused."
    )
    title = f"Model retiring in {_int(payload.get('days_left'))} days: {model}"
    return Message(kind, title, text)


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
    "error": _compose_error,
}


# ---------------------------------------------------------------------------------------------
# The three shapes


def discord(event: Event) -> dict:
    """The Discord webhook body: one embed, every text within Discord's limits."""
    msg = compose(event, DISCORD)
    fields = _cap_fields(msg.fields, FIELDS_MAX)
    embed = {
        "title": clip(msg.title, TITLE_MAX),
        "description": clip(msg.text, DESCRIPTION_MAX),
        "color": COLOURS.get(msg.kind, DEFAULT_COLOUR),
        "fields": [
            {
                "name": clip(f.name, FIELD_NAME_MAX) or "—",
                "value": clip(f.value, FIELD_VALUE_MAX) or "—",
                "inline": f.inline,
            }
            for f in fields
        ],
    }
    if msg.url:
        embed["url"] = msg.url
    if msg.footer:
        embed["footer"] = {"text": clip(msg.footer, FOOTER_MAX)}
    if event.created_at:
        embed["timestamp"] = event.created_at.isoformat()
    _fit_total(embed, EMBED_TOTAL_MAX)
    if not embed["description"]:
        del embed["description"]
    # A task title saying "@everyone" must not ping anyone.
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def embed_length(embed: dict) -> int:
    """The characters Discord adds up toward its 6,000 limit (in UTF-16 units, see ``clip``)."""
    total = units(embed.get("title", "")) + units(embed.get("description", ""))
    total += sum(units(f["name"]) + units(f["value"]) for f in embed.get("fields", []))
    total += units(embed.get("footer", {}).get("text", "")) + units(embed.get("author", {}).get("name", ""))
    return total


def _cap_fields(fields: list[Field], most: int) -> list[Field]:
    if len(fields) <= most:
        return fields
    rest = len(fields) - (most - 1)
    return [*fields[: most - 1], Field("…", f"and {rest} more not shown")]


def _fit_total(embed: dict, most: int) -> None:
    """Shorten the description, then field values from the last one, until the embed fits."""
    excess = embed_length(embed) - most
    if excess <= 0:
        return
    description = embed["description"]
    keep = max(units(description) - excess, 0)
    embed["description"] = clip(description, keep) if keep > 1 else ""
    for f in reversed(embed["fields"]):
        excess = embed_length(embed) - most
        if excess <= 0:
            return
        keep = max(units(f["value"]) - excess, 1)
        f["value"] = clip(f["value"], keep) if keep > 1 else "…"
    while embed["fields"] and embed_length(embed) > most:
        embed["fields"].pop()
    if embed_length(embed) > most:  # only the title and footer are left to give
        embed["footer"] = {"text": clip(embed.get("footer", {}).get("text", ""), 100)}
        embed["title"] = clip(embed["title"], 100)


def slack(event: Event) -> dict:
    """A Slack incoming-webhook body: ``text`` (notifications, fallback) and Block Kit ``blocks``."""
    msg = compose(event, SLACK)
    title = SLACK.esc(msg.title)
    headline = SLACK.link(f"*{title}*", msg.url) if msg.url else f"*{title}*"
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(msg.title, SLACK_HEADER_MAX), "emoji": True},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": clip(headline + ("\n" + msg.text if msg.text else ""), SLACK_TEXT_MAX),
            },
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{SLACK.esc(f.name)}*\n{f.value}", SLACK_FIELD_MAX)}
        for f in msg.fields
    ]
    for i in range(0, min(len(fields), 40), SLACK_FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[i : i + SLACK_FIELDS_PER_SECTION]})
    if msg.footer:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(msg.footer, SLACK_TEXT_MAX)}]}
        )
    return {"text": clip(msg.title, SLACK_TEXT_MAX), "blocks": blocks}


def webhook(event: Event) -> dict:
    """The generic JSON webhook body: readable text plus the event's facts as recorded."""
    msg = compose(event, PLAIN)
    return {
        "kind": str(event.kind),
        "key": event.key,
        "created_at": event.created_at.isoformat() if event.created_at else None,
        "title": clean(msg.title),
        "text": clean(msg.text),
        "url": msg.url,
        "simulated": msg.simulated,
        "fields": [{"name": clean(f.name), "value": clean(f.value)} for f in msg.fields],
        "facts": _clean_tree(event.payload),
    }


def _clean_tree(value):
    if isinstance(value, dict):
        return {clean(k): _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_tree(v) for v in value]
    if isinstance(value, str):
        return clean(value)
    return value
