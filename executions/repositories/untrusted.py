"""Text written on GitHub (issue titles and bodies, reviews and comments, check output and
annotations, branch and file names) is untrusted input: anyone who can open an issue or push a
check writes it. It enters the product through ``untrusted``, where it is read (the webhook's
payloads, ``executions.github.payloads.text``; what the GitHub gateway reads), and nowhere else.
"""

from __future__ import annotations

from notifications.secrets import mask_secrets
from notifications.text import storable


def untrusted(value: str) -> str:
    """Text written on GitHub, as the product may store it and send it to a vendor: secrets
    masked, NUL and lone surrogates replaced by U+FFFD."""
    return mask_secrets(storable(value)) if value else value


def untrusted_data(value: object) -> object:
    """``value`` (JSON-like) with every text in it made ``untrusted``."""
    if isinstance(value, str):
        return untrusted(value)
    if isinstance(value, dict):
        return {key: untrusted_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [untrusted_data(item) for item in value]
    return value
