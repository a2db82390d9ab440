"""Every outbox event rendered for Discord, Slack and a generic JSON webhook.

Pure functions of the ``Event`` row (kind, key, payload, created_at): no database, no network,
so a delivery retried an hour later sends the same body. The facts are composed once
(``notifications.messages``); these functions only give them each target's shape and limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifications.messages import DISCORD, PLAIN, SLACK, Field, compose
from notifications.text import clean, clip, units

if TYPE_CHECKING:
    from notifications.models import Event

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000

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
    "usage_mismatch": 0xD35400,
    "error": 0x992D22,
}
DEFAULT_COLOUR = 0x607D8B


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
    keep = units(embed["description"]) - excess
    embed["description"] = clip(embed["description"], keep) if keep > 1 else ""
    for f in reversed(embed["fields"]):
        excess = embed_length(embed) - most
        if excess <= 0:
            return
        keep = units(f["value"]) - excess
        f["value"] = clip(f["value"], keep) if keep > 1 else "…"
    # Title (256) and footer (2048) alone always fit; 25 long field names might not.
    while embed["fields"] and embed_length(embed) > most:
        embed["fields"].pop()


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
