"""Every configured secret, and the one function that hides them in text: ``mask_secrets``.

The secrets: the value of every setting whose name says it is one (``*_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*_PASSWORD``, ``*_WEBHOOK_URL``, the database and Redis URLs: both vendors' API keys
and admin keys, ``GITHUB_TOKEN``, the GitHub App's private key, ``GITHUB_WEBHOOK_SECRET``,
``DISCORD_WEBHOOK_URL``, ...), the database password, and every notification channel's webhook URL.
The error pages use the same list (``orchestration_site.debug``).
Each is hidden whole and by the parts that give it away: a URL's path, its token segment, its
query values and its password, a PEM key line by line and in its one-line environment form (a
text that quotes part of a secret shows none of it).

Every text that is stored or sent and may quote a vendor, GitHub or a library goes through here:
an execution's and a batch's error (``executions.pipeline.runner``, ``executions.batches.passes``), every event's
payload (``notifications.events.emit``), a delivery's error, the vendors' error messages
(``describe_failure``) and every log record (``install_log_masking``: a log record factory, so
every handler sees the masked text, whichever logger or handler it comes through). Notifications
is the lowest app that knows all of them: the channels are its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from django.conf import settings
from django.db import connection, transaction

MASK = "[redacted]"
# Shorter values (an empty key, "1", a port) would mask harmless text; a real key, token or
# webhook URL is far longer.
MIN_SECRET_LENGTH = 8
SECRET_SETTING = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|WEBHOOK_URL|DATABASE_URL|REDIS_URL)$")
CHANNELS_TTL_SECONDS = 60  # another process's admin edit is seen within this long
MAX_KEY_FILE_BYTES = 64 * 1024

_cache: dict[str, object] = {}
_loading = threading.local()


def mask_secrets(text: str, *, extra: Iterable[str] = (), read_channels: bool = True) -> str:
    """``text`` with every configured secret (and ``extra`` ones) replaced by ``[redacted]``.

    ``read_channels=False``: the channels' URLs as last read, without asking the database."""
    if not text:
        return text
    secrets = configured_secrets(read_channels=read_channels)
    more = tuple(part for value in extra if value for part in _parts(value))
    pattern = _pattern(_longest_first(secrets + more) if more else secrets)
    return pattern.sub(MASK, text) if pattern else text


def mask_data(value: object) -> object:
    """``value`` (JSON-like: dicts, lists, strings) with every string in it masked."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {key: mask_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(item) for item in value]
    return value


def configured_secrets(*, read_channels: bool = True) -> tuple[str, ...]:
    """Every secret and each part of one that gives it away, longest first."""
    from_settings = _cache.get("settings")
    if from_settings is None:
        from_settings = _cache["settings"] = tuple(
            part for name, value in _secret_settings() for part in _parts(value, webhook=_webhook(name))
        )
    return _longest_first(from_settings + _channel_secrets(read=read_channels))


def _longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so a URL is hidden whole rather than around its token; ties in a fixed order.
    return tuple(sorted(set(secrets), key=lambda s: (-len(s), s)))


def forget_secrets(**kwargs) -> None:
    """Read the secrets again (a setting or a channel changed): connected to those signals."""
    _cache.clear()


# --- where secrets come from -------------------------------------------------------------------


def _secret_settings() -> list[tuple[str, str]]:
    """(setting name, secret value) of every secret setting (a key's file content too)."""
    values = []
    for name in dir(settings):
        if name.isupper() and SECRET_SETTING.search(name):
            value = getattr(settings, name, None)
            if isinstance(value, str):
                values += [(name, value), (name, _file_content(value))]
    databases = getattr(settings, "DATABASES", {}) or {}
    values += [("DATABASES", db.get("PASSWORD") or "") for db in databases.values() if isinstance(db, dict)]
    return [(name, value) for name, value in values if value]


def _webhook(name: str) -> bool:
    return name.endswith("WEBHOOK_URL")


def _file_content(value: str) -> str:
    """A key given as the path of its file (``GITHUB_APP_PRIVATE_KEY=/run/secrets/app.pem``)."""
    if value.startswith("-----") or "\n" in value or len(value) > 4096:
        return ""
    try:
        path = Path(value)
        if path.is_file() and path.stat().st_size <= MAX_KEY_FILE_BYTES:
            return path.read_text(errors="replace")
    except (OSError, ValueError):
        pass
    return ""


def _channel_secrets(*, read: bool) -> tuple[str, ...]:
    """The channels' webhook URLs and their parts, read at most every CHANNELS_TTL_SECONDS.

    Never raises: with no database (a check, a test without one, a migration) there are none.
    Inside a transaction the read sits in a savepoint, so a failure leaves the caller's transaction
    usable; it is not re-entered when it logs itself."""
    cached = _cache.get("channels")
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    if not read or getattr(_loading, "active", False):
        return cached[1] if cached else ()
    _loading.active = True
    try:
        from notifications.models import Channel

        urls = Channel.objects.values_list("url", flat=True)
        if connection.in_atomic_block:  # in a savepoint: a failure must not break the caller's
            with transaction.atomic():
                urls = list(urls)
        else:  # no transaction of its own (on SQLite, one would take the write lock to read)
            urls = list(urls)
    except Exception:  # no database here: the settings' secrets still apply
        return cached[1] if cached else ()
    finally:
        _loading.active = False
    parts = tuple(part for url in urls for part in _parts(url, webhook=True))
    _cache["channels"] = (time.monotonic() + CHANNELS_TTL_SECONDS, parts)
    return parts


def _parts(value: str, *, webhook: bool = False) -> list[str]:
    """``value`` and the parts of it that give it away, each long enough to be worth hiding: a
    URL's password; a webhook URL's path, token segment and query values too (its secret is there,
    where a database URL's path is only a name)."""
    value = value.strip()
    parts = [value, value.replace("\n", "\\n")]
    if "://" in value:
        try:
            url = urlsplit(value)
            parts += [url.password or ""]
            if webhook:
                segments = [s for s in url.path.split("/") if s]
                parts += [value.split("?")[0], url.path, url.query, quote(value, safe="")]
                parts += segments[-1:]  # the token (Discord, Slack), or a token in the path
                parts += [v for _name, v in parse_qsl(url.query)]
        except ValueError:
            pass
    if "-----BEGIN" in value:
        parts += [line.strip() for line in value.splitlines() if not line.startswith("-----")]
    return [p for p in dict.fromkeys(parts) if len(p) >= MIN_SECRET_LENGTH]


def _pattern(secrets: tuple[str, ...]) -> re.Pattern | None:
    compiled = _cache.get("pattern")
    if compiled is not None and compiled[0] == secrets:
        return compiled[1]
    pattern = re.compile("|".join(map(re.escape, secrets))) if secrets else None
    _cache["pattern"] = (secrets, pattern)
    return pattern


# --- log records -------------------------------------------------------------------------------


def install_log_masking() -> None:
    """Mask every log record's message and traceback where it is made, before any handler (the
    console, q2's, a test's) sees it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_secrets", False):
        return

    def masked_record(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _mask_record(record)
        return record

    masked_record.masks_secrets = True
    logging.setLogRecordFactory(masked_record)


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: the handler reports it as usual
        return
    # The channels are read again only on a connection this thread already has: a log line must
    # never open one (q2's threads log too).
    masked = mask_secrets(message, read_channels=connection.connection is not None)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_secrets(record.exc_text, read_channels=False)
    if record.stack_info:
        record.stack_info = mask_secrets(record.stack_info, read_channels=False)
