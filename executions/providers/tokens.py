"""OpenAI chat input counted with the model's published tokenizer (tiktoken), offline.

tiktoken downloads an encoding's file at first use; production, CI and simulated mode have no
internet. The same files ship inside the ``bpe-openai`` wheel: read from there (never imported:
only its data is used), checked against tiktoken's own published SHA-256 and handed to
``tiktoken.Encoding``, so the count is tiktoken's. Each encoding is loaded once per process, on
first use (a third of a second, some 80 MB). A model tiktoken does not map, or an encoding whose
file is missing or differs, is not counted: the caller keeps the byte bound.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import threading
from importlib import metadata
from typing import NamedTuple

import tiktoken

log = logging.getLogger(__name__)

# The chat framing, per the OpenAI cookbook ("How to count tokens with tiktoken"): each message
# costs 3 tokens beyond its values' (4 on gpt-3.5-turbo-0301), a ``name`` 1 more, and the reply is
# primed with 3 (<|start|>assistant<|message|>); for its example, gpt-4o-mini billed exactly that.
# The framing is the service's, not a published rule, so more is held: and a worst case counted
# before the plan inserts text not yet known (held at its bytes) into a counted message, where the
# pieces around an insertion point may split into a few more tokens than they did.
MESSAGE_FRAMING_TOKENS = 16
REPLY_PRIMING_TOKENS = 16
# ``response_format``'s JSON schema is added to the prompt by the service in a form that is not
# documented. It is counted as its pretty-printed JSON (each key and bracket on its own line: the
# coder's, with its name: 290 tokens so; 131 as compact JSON) plus this for a heading.
SCHEMA_FRAMING_TOKENS = 64

# The parameters the count knows (``openai.params_for``); a request with any other (tools, say)
# is not counted, so a new parameter can never be held at less than it costs.
COUNTED_PARAMS = frozenset(
    {"model", "max_completion_tokens", "messages", "temperature", "reasoning_effort", "response_format"}
)

# Each encoding this counts with: its file in the bpe-openai wheel and the SHA-256 that tiktoken
# publishes for it (tiktoken_ext/openai_public.py), with tiktoken's split pattern for it (which
# tiktoken hands out only together with the downloaded file; tests check both against tiktoken's).
DATA_PACKAGE = "bpe-openai"
ENCODINGS = {
    "o200k_base": (
        "bpe_openai/data/o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
    ),
    "cl100k_base": (
        "bpe_openai/data/cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    ),
}

_loaded: dict[str, tiktoken.Encoding | None] = {}
_loading = threading.Lock()


def encoding_name(model: str) -> str | None:
    """The encoding of ``model`` by tiktoken's own table (o200k_base for the gpt-4o and gpt-4.1
    families and the o-series, cl100k_base for gpt-4 and gpt-3.5), when this can count with it."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return None
    return name if name in ENCODINGS else None


def encoding(name: str) -> tiktoken.Encoding | None:
    """The encoding ``name``, loaded on first use; None (logged once) when its file is missing or
    is not the one tiktoken publishes."""
    with _loading:
        if name not in _loaded:
            _loaded[name] = _load(name)
        return _loaded[name]


def _load(name: str) -> tiktoken.Encoding | None:
    path, sha256, pattern = ENCODINGS[name]
    try:
        data = gzip.decompress(metadata.distribution(DATA_PACKAGE).locate_file(path).read_bytes())
    except (metadata.PackageNotFoundError, OSError) as exc:
        log.warning("%s cannot be read from %s (%s): inputs are held at their bytes", name, DATA_PACKAGE, exc)
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        log.warning(
            "%s in %s is not the file tiktoken publishes: inputs are held at their bytes", name, DATA_PACKAGE
        )
        return None
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens={})


class ChatCount(NamedTuple):
    tokens: int
    encoding: str


def chat_input_tokens(params: dict, *, stand_ins: int = 0) -> ChatCount | None:
    """At least the input tokens OpenAI bills for the chat completion ``params`` (as sent) and the
    encoding counted with; None when the model's tokenizer is not known here, or the request holds
    anything the count does not know. ``stand_ins``: the last messages are stand-ins as long as
    their text may be (``CompletionRequest.at_caps``): their real text is not known, so each is
    taken at its UTF-8 bytes (a token is at least a byte), not at the stand-in's tokens."""
    name = encoding_name(str(params.get("model", "")))
    counter = encoding(name) if name is not None and set(params) <= COUNTED_PARAMS else None
    messages = params.get("messages") or []
    if counter is None or not all(isinstance(v, str) for m in messages for v in m.values()):
        return None
    known = len(messages) - stand_ins
    tokens = REPLY_PRIMING_TOKENS + len(messages) * MESSAGE_FRAMING_TOKENS
    tokens += sum(len(counter.encode_ordinary(value)) for m in messages[:known] for value in m.values())
    tokens += sum(len(value.encode("utf-8")) for m in messages[known:] for value in m.values())
    schema = _schema_tokens(counter, params.get("response_format"))
    return ChatCount(tokens + schema, name) if schema is not None else None


def _schema_tokens(counter: tiktoken.Encoding, response_format: dict | None) -> int | None:
    if response_format is None:
        return 0
    if response_format.get("type") != "json_schema":
        return None
    text = json.dumps(response_format["json_schema"], indent=2)  # escaped non-ASCII: more tokens
    return len(counter.encode_ordinary(text)) + SCHEMA_FRAMING_TOKENS
