"""How an untrusted name reaches a prompt: as data, never as prose (docs/context.md, "The prompts").

A file name, a definition's name, the repository's name and branch, the task's text: each comes
from the repository or the backlog, so it is written as a JSON string (quotes, backslashes and
control characters escaped), with "<", ">" and "&" escaped too so that it cannot close or open a
tag of the structure around it (``<file path=...>``).
"""

from __future__ import annotations

import json

_TAG_CHARACTERS = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def quoted(value: str | dict) -> str:
    """``value`` as JSON, safe inside the prompts' structure: a file name, a branch, the task."""
    return json.dumps(value, ensure_ascii=False, indent=1 if isinstance(value, dict) else None).translate(
        _TAG_CHARACTERS
    )
