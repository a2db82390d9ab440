"""Settings, read from the environment (12-factor). Every knob has a default that runs locally.

The table of variables is in docs/configuration.md.
"""

import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from budget.money import MoneyError, parse_dollars  # pure Python: safe to import before set-up
from orchestration_site.env import Env

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()

# Off unless asked for (DEBUG=1, as bin/demo and the test suite do): the debug page is for a
# developer's own machine. docs/security.md says how to turn it on.
DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    # Development only: a known key is acceptable where DEBUG is on, never in production.
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    # No default outside development: a missing key is a configuration error, not a weak key.
    SECRET_KEY = env.str("SECRET_KEY")
# Error pages and error reports mask every secret, by name and by value (orchestration_site/debug.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "orchestration_site.debug.SecretMaskingFilter"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "budget",
    "executions",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "orchestration_site.middleware.RejectNulMiddleware",  # NUL in a path or query: 400, not 500
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestration_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "orchestration_site" / "templates", BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "orchestration_site.wsgi.application"
ASGI_APPLICATION = "orchestration_site.asgi.application"

_DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
if _DATABASE_URL.partition("://")[0] not in ("postgres", "postgresql", "pgsql", "sqlite"):
    # Checked before parsing, which would print the URL (and its password) in a warning.
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:/// URL.")
DATABASES = {"default": env.db_url_config(_DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock up front, so two writers queue on the
    # busy timeout instead of failing with "database is locked" half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Test databases: a file for SQLite (not :memory:, so threads and subprocesses share it), and a
# name of its own per TEST_DB_SUFFIX so test runs side by side don't drop each other's database.
_TEST_DB_SUFFIX = env.str("TEST_DB_SUFFIX", default="")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _name = f"test-db{'-' + _TEST_DB_SUFFIX if _TEST_DB_SUFFIX else ''}.sqlite3"
    (BASE_DIR / "var").mkdir(exist_ok=True)  # a clean clone has no var/ (it is git-ignored)
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / _name)}
elif _TEST_DB_SUFFIX:
    DATABASES["default"]["TEST"] = {"NAME": f"test_orchestrator_{_TEST_DB_SUFFIX}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"TIME_ZONE must be an IANA time zone like Europe/Paris, not {TIME_ZONE!r}."
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The SDKs log request URLs and headers at DEBUG; keep them quiet so no secret leaks.
    "loggers": {
        name: {"level": "WARNING"}
        for name in ("httpx", "httpx2", "httpcore", "anthropic", "openai", "github", "urllib3")
    },
}

# --- REST API -----------------------------------------------------------------------------

API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/minute")
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)s?", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE must look like 600/minute (per second, minute, hour or day), not {API_THROTTLE_RATE!r}."
    )
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE},
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PR orchestrator API",
    "DESCRIPTION": "Usage, executions and tasks of the budget-capped PR orchestrator. "
    "Money is a decimal string in US dollars.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- The product --------------------------------------------------------------------------

ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
# Live only when both keys are present, unless the operator says otherwise.
ORCHESTRATOR_MODE = env.str(
    "ORCHESTRATOR_MODE",
    default="live" if ANTHROPIC_API_KEY and OPENAI_API_KEY else "simulated",
)
if ORCHESTRATOR_MODE not in ("live", "simulated"):
    raise ImproperlyConfigured(f"ORCHESTRATOR_MODE must be 'live' or 'simulated', not {ORCHESTRATOR_MODE!r}.")

MONTHLY_BUDGET = env.str("MONTHLY_BUDGET", default="15.00")  # USD, the limit a first period opens with
try:  # checked at start-up: a bad value must stop the process, not the first new month
    parse_dollars(MONTHLY_BUDGET, what="MONTHLY_BUDGET")
except MoneyError as _exc:
    raise ImproperlyConfigured(str(_exc)) from None
# A reservation whose execution has made no progress for this long is released by the reaper.
RESERVATION_TIMEOUT_SECONDS = env.int("RESERVATION_TIMEOUT_SECONDS", default=45 * 60)

# Vendor SDK behaviour: retries for 408/409/429/5xx (the SDKs honour retry-after) and timeouts.
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=3)
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=120.0)

# A checklist import (import_tasks, the admin upload) reads at most this many bytes and creates at
# most this many tasks; a larger one is refused whole.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=1024 * 1024)
IMPORT_MAX_ITEMS = env.int("IMPORT_MAX_ITEMS", default=1000)

LOCAL_REPO_PATH = env.str("LOCAL_REPO_PATH", default=str(BASE_DIR / "var" / "sandbox-repo"))
ALLOW_WORKFLOW_CHANGES = env.bool("ALLOW_WORKFLOW_CHANGES", default=False)

# Branches are <BRANCH_PREFIX>/<task id>-<slug>, on GitHub and in the local repository. Empty: "ai-" and
# 8 hex digits unique to this deployment (executions.repositories.base.branch_prefix).
BRANCH_PREFIX = env.str("BRANCH_PREFIX", default="").strip()
if BRANCH_PREFIX and (
    not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*", BRANCH_PREFIX)
    or ".." in BRANCH_PREFIX
    or BRANCH_PREFIX.endswith((".", ".lock"))
):
    raise ImproperlyConfigured(
        f"BRANCH_PREFIX must be a git branch name part like ai or bots/orchestrator, not {BRANCH_PREFIX!r}."
    )

# What the models see of the repository (docs/context.md): the ranked map's token budget, the file
# content shown per prompt, extra gitignore-style excludes, and where per-commit indexes are kept.
CONTEXT_MAP_TOKENS = env.int("CONTEXT_MAP_TOKENS", default=2000)
CONTEXT_FILE_BYTES = env.int("CONTEXT_FILE_BYTES", default=40000)
CONTEXT_EXCLUDE = env.list("CONTEXT_EXCLUDE", default=[])
CONTEXT_CACHE_DIR = env.str("CONTEXT_CACHE_DIR", default=str(BASE_DIR / "var" / "context-cache"))
# The longest file (in lines) the coder may replace whole with a "rewrite"; longer files are edited.
REWRITE_MAX_LINES = env.int("REWRITE_MAX_LINES", default=200)
# How many more times the coder is asked, in the same execution, when its answer does not parse,
# apply or pass the syntax check (each try is reserved from the start and charged on its own).
CODEGEN_REFLECTIONS = env.int("CODEGEN_REFLECTIONS", default=2)
# The lowest output cap the analysis may run with when the month's last dollars cannot hold its
# configured max_tokens (a reduced form: executions/pipeline/forms.py).
ANALYSIS_MIN_MAX_TOKENS = env.int("ANALYSIS_MIN_MAX_TOKENS", default=1024)
# What is held on top of Anthropic's count_tokens answer (it is an estimate), in percent.
COUNT_TOKENS_MARGIN_PERCENT = env.int("COUNT_TOKENS_MARGIN_PERCENT", default=5)
# How many times the analyst may call ``show`` (a few files or definitions from the base commit)
# before its plan: each round is one more analysis call, reserved from the start and charged.
ANALYSIS_LOOKUPS = env.int("ANALYSIS_LOOKUPS", default=1)

GITHUB_TOKEN = env.str("GITHUB_TOKEN", default="")
GITHUB_REPOSITORY = env.str("GITHUB_REPOSITORY", default="")
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com")
GITHUB_APP_ID = env.str("GITHUB_APP_ID", default="")
GITHUB_APP_PRIVATE_KEY = env.str("GITHUB_APP_PRIVATE_KEY", default="")
GITHUB_APP_INSTALLATION_ID = env.str("GITHUB_APP_INSTALLATION_ID", default="")
GITHUB_BASE_BRANCH = env.str("GITHUB_BASE_BRANCH", default="")  # empty: the default branch
GITHUB_DRAFT_PRS = env.bool("GITHUB_DRAFT_PRS", default=False)
# PyGithub pauses between requests and writes to respect GitHub's secondary rate limits.
GITHUB_SECONDS_BETWEEN_REQUESTS = env.float("GITHUB_SECONDS_BETWEEN_REQUESTS", default=0.25)
GITHUB_SECONDS_BETWEEN_WRITES = env.float("GITHUB_SECONDS_BETWEEN_WRITES", default=1.0)

DISCORD_WEBHOOK_URL = env.str("DISCORD_WEBHOOK_URL", default="")

# The background schedules (``setup_schedules``; executions/scheduling/scheduler.py, executions/jobs.py).
SCHEDULE_MINUTES = env.int("SCHEDULE_MINUTES", default=30)
PACING_ENABLED = env.bool("PACING_ENABLED", default=True)
MAX_CONCURRENT_EXECUTIONS = env.int("MAX_CONCURRENT_EXECUTIONS", default=1)
MODEL_RETIREMENT_NOTICE_DAYS = env.int("MODEL_RETIREMENT_NOTICE_DAYS", default=30)
# Batch mode (docs/batch.md): each step's default for Step configs' "batch", how often
# ``run_batches`` runs, and how many tasks one batch takes at most.
LLM_BATCH = env.bool("LLM_BATCH", default=False)
BATCH_POLL_MINUTES = env.int("BATCH_POLL_MINUTES", default=5)
BATCH_MAX_TASKS = env.int("BATCH_MAX_TASKS", default=50)
# A batch ends within 24 h or expires: its executions' reservations are held that long plus a margin.
BATCH_WINDOW_SECONDS = env.int("BATCH_WINDOW_SECONDS", default=24 * 60 * 60)
BATCH_MARGIN_SECONDS = env.int("BATCH_MARGIN_SECONDS", default=2 * 60 * 60)
# Simulated mode's stand-in for the vendors' batch storage (one JSON file per batch).
SIMULATED_BATCH_DIR = env.str("SIMULATED_BATCH_DIR", default=str(BASE_DIR / "var" / "simulated-batches"))
# What an execution really costs (`budget costs`, the dashboard, /api/v1/usage/current/): the
# month's last COSTS_WINDOW finished executions are measured.
COSTS_WINDOW = env.int("COSTS_WINDOW", default=50)
# Usage reconciliation (docs/reconciliation.md): the vendors' admin usage APIs against the recorded
# calls, daily. A vendor without its admin key is not reconciled; the key ids (and OpenAI's
# project) filter each report to the product's own usage. The admin keys are secrets.
ANTHROPIC_ADMIN_API_KEY = env.str("ANTHROPIC_ADMIN_API_KEY", default="")
ANTHROPIC_API_KEY_ID = env.str("ANTHROPIC_API_KEY_ID", default="")
OPENAI_ADMIN_API_KEY = env.str("OPENAI_ADMIN_API_KEY", default="")
OPENAI_PROJECT_ID = env.str("OPENAI_PROJECT_ID", default="")
OPENAI_API_KEY_ID = env.str("OPENAI_API_KEY_ID", default="")
# A day and model whose tokens differ by more than this share of the vendor's count is announced.
_tolerance = env.str("RECONCILE_TOLERANCE_PERCENT", default="1").strip().rstrip("%")
try:
    RECONCILE_TOLERANCE_PERCENT = Decimal(_tolerance)
except InvalidOperation:
    RECONCILE_TOLERANCE_PERCENT = Decimal("NaN")
if not RECONCILE_TOLERANCE_PERCENT.is_finite() or RECONCILE_TOLERANCE_PERCENT < 0:
    raise ImproperlyConfigured(
        f"RECONCILE_TOLERANCE_PERCENT must be a percentage ≥ 0 like 1 or 0.5, not {_tolerance!r}."
    )
for _name, _minimum in (
    ("SCHEDULE_MINUTES", 1),
    ("MAX_CONCURRENT_EXECUTIONS", 1),
    ("MODEL_RETIREMENT_NOTICE_DAYS", 0),
    ("BATCH_POLL_MINUTES", 1),
    ("BATCH_MAX_TASKS", 1),
    ("COSTS_WINDOW", 1),
    ("CODEGEN_REFLECTIONS", 0),
    ("ANALYSIS_LOOKUPS", 0),
):
    if globals()[_name] < _minimum:
        raise ImproperlyConfigured(f"{_name} must be at least {_minimum}, not {globals()[_name]}.")

# --- django-q2 ----------------------------------------------------------------------------
# One worker process (``python manage.py qcluster``) runs the schedules of ``setup_schedules``.
# Broker: the default database (ORM) unless REDIS_URL is set; Redis is the scale-out path (many
# worker machines, one PostgreSQL). Why each number is what it is:
# - ``timeout`` (Q_TIMEOUT_SECONDS, 42 min) is longer than the longest execution: the analysis, its
#   ANALYSIS_LOOKUPS look-up rounds and 1 + CODEGEN_REFLECTIONS coder tries, each at most
#   LLM_TIMEOUT_SECONDS × (LLM_MAX_RETRIES + 1) (40 min at the defaults), plus publishing (checked
#   below). A worker still busy past it is killed.
# - ``retry`` (timeout + 5 min) is when the ORM broker hands an unacknowledged task out again. Being
#   longer than ``timeout``, it comes only after the first worker finished or was killed: a running
#   execution is never handed to a second worker. (Redis has no receipts: there, a task whose worker
#   died is lost, and the reaper below recovers its execution.)
# - RESERVATION_TIMEOUT_SECONDS (the reaper's "no progress for this long") is longer than
#   ``timeout``: an execution is abandoned only once no live worker can still be running it.
# - ``max_attempts: 1`` and ``ack_failures``: a job that raised is acknowledged, never re-run by
#   q2. The pipeline records its own failures and retries a task through its attempts; a blind
#   re-run could spend twice.
# - ``catch_up: False``: after downtime each schedule fires once, not once per missed slot.
# - ``guard_cycle``: the cluster checks its workers every cycle and runs the scheduler every 30 s
#   of cycles (every cycle, from the first, when a cycle is 30 s or more).
REDIS_URL = env.str("REDIS_URL", default="")
Q_TIMEOUT_SECONDS = env.int("Q_TIMEOUT_SECONDS", default=42 * 60)
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="orchestrator"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT_SECONDS,
    "retry": Q_TIMEOUT_SECONDS + 5 * 60,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "guard_cycle": env.float("Q_GUARD_CYCLE", default=0.5),
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# The analysis, its look-up rounds and every coder try, each with every attempt of the SDK.
_MODEL_CALLS = 2 + ANALYSIS_LOOKUPS + CODEGEN_REFLECTIONS
_LONGEST_MODEL_CALLS = int(_MODEL_CALLS * LLM_TIMEOUT_SECONDS * (LLM_MAX_RETRIES + 1))
if not _LONGEST_MODEL_CALLS < Q_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"Q_TIMEOUT_SECONDS ({Q_TIMEOUT_SECONDS}) must be longer than an execution's model calls can "
        f"take ((2 + ANALYSIS_LOOKUPS + CODEGEN_REFLECTIONS) × LLM_TIMEOUT_SECONDS × (LLM_MAX_RETRIES + 1) = "
        f"{_LONGEST_MODEL_CALLS} s), or the worker would be killed mid-execution."
    )
if not Q_TIMEOUT_SECONDS < RESERVATION_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"Q_TIMEOUT_SECONDS ({Q_TIMEOUT_SECONDS}) must be shorter than RESERVATION_TIMEOUT_SECONDS "
        f"({RESERVATION_TIMEOUT_SECONDS}), or the reaper could abandon an execution a worker still runs."
    )

# --- GitHub publishing (executions/repositories/github.py) ---------------------------------------
# Retries of 5xx and rate-limit 403s (PyGithub's GithubRetry); a rate limit resetting later than
# GITHUB_MAX_RATE_LIMIT_WAIT seconds fails the execution with the reset time instead of sleeping.
GITHUB_RETRIES = env.int("GITHUB_RETRIES", default=3)
GITHUB_RETRY_BACKOFF = env.float("GITHUB_RETRY_BACKOFF", default=1.0)
GITHUB_MAX_RATE_LIMIT_WAIT = env.int("GITHUB_MAX_RATE_LIMIT_WAIT", default=60)
GITHUB_TIMEOUT = env.int("GITHUB_TIMEOUT", default=30)
GITHUB_PR_LABEL = env.str("GITHUB_PR_LABEL", default="ai-generated")

# --- Pull request outcomes (executions/github/pull_requests.py, executions/github/webhooks.py) ---------------
# POST /webhooks/github/ answers only when GITHUB_WEBHOOK_SECRET is set (the secret you enter on
# GitHub's webhook page); a body over GITHUB_WEBHOOK_MAX_BYTES is refused unread (413). Without
# webhooks, the ``sync-pull-requests`` schedule polls open PRs every SYNC_PRS_MINUTES.
GITHUB_WEBHOOK_SECRET = env.str("GITHUB_WEBHOOK_SECRET", default="")
GITHUB_WEBHOOK_MAX_BYTES = env.int("GITHUB_WEBHOOK_MAX_BYTES", default=1024 * 1024)
SYNC_PRS_MINUTES = env.int("SYNC_PRS_MINUTES", default=60)
if SYNC_PRS_MINUTES < 1:
    raise ImproperlyConfigured(f"SYNC_PRS_MINUTES must be at least 1, not {SYNC_PRS_MINUTES}.")

# --- GitHub issues as tasks (executions/github/issues.py, docs/issues.md) ----------------------
# An open issue with GITHUB_TASK_LABEL in an enabled repository is a pending task: by webhook
# (``issues`` events) or by the ``sync-issues`` schedule every SYNC_ISSUES_MINUTES. Its priority
# is the highest its labels give (ISSUE_PRIORITY_LABELS: label=priority, comma-separated); a body
# over ISSUE_BODY_MAX_BYTES is cut with a note.
GITHUB_TASK_LABEL = env.str("GITHUB_TASK_LABEL", default="pr-orchestrator").strip()
if not GITHUB_TASK_LABEL:
    raise ImproperlyConfigured("GITHUB_TASK_LABEL must name a label, like pr-orchestrator.")
SYNC_ISSUES_MINUTES = env.int("SYNC_ISSUES_MINUTES", default=15)
if SYNC_ISSUES_MINUTES < 1:
    raise ImproperlyConfigured(f"SYNC_ISSUES_MINUTES must be at least 1, not {SYNC_ISSUES_MINUTES}.")
ISSUE_BODY_MAX_BYTES = env.int("ISSUE_BODY_MAX_BYTES", default=16 * 1024)
if ISSUE_BODY_MAX_BYTES < 1:
    raise ImproperlyConfigured(f"ISSUE_BODY_MAX_BYTES must be at least 1, not {ISSUE_BODY_MAX_BYTES}.")

# --- Revisions: follow-up commits on the product's pull requests (executions/revisions/lifecycle.py) ------
# Failed checks on a PR's head (when REVISE_ON_FAILED_CHECKS), a review asking for changes, or a
# comment holding REVISION_TRIGGER from someone with write access queue a revision: at most
# PR_MAX_REVISIONS per pull request (0: none). The analyst is shown the feedback within
# REVISION_FEEDBACK_BYTES and the pull request's diff so far within REVISION_DIFF_BYTES.
REVISE_ON_FAILED_CHECKS = env.bool("REVISE_ON_FAILED_CHECKS", default=True)
REVISION_TRIGGER = env.str("REVISION_TRIGGER", default="/revise").strip()
if not REVISION_TRIGGER:
    raise ImproperlyConfigured("REVISION_TRIGGER must be a word people write in a comment, like /revise.")
PR_MAX_REVISIONS = env.int("PR_MAX_REVISIONS", default=2)
if PR_MAX_REVISIONS < 0:
    raise ImproperlyConfigured(f"PR_MAX_REVISIONS must be 0 or more, not {PR_MAX_REVISIONS}.")
REVISION_FEEDBACK_BYTES = env.int("REVISION_FEEDBACK_BYTES", default=16 * 1024)
REVISION_DIFF_BYTES = env.int("REVISION_DIFF_BYTES", default=20_000)
for _name in ("REVISION_FEEDBACK_BYTES", "REVISION_DIFF_BYTES"):
    if globals()[_name] < 1024:
        raise ImproperlyConfigured(f"{_name} must be at least 1024, not {globals()[_name]}.")


def _priority_labels(text: str) -> dict[str, int]:
    labels = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, _, value = item.rpartition("=")
        if not label.strip() or not re.fullmatch(r"[+-]?\d{1,6}", value.strip()):
            raise ImproperlyConfigured(
                f"ISSUE_PRIORITY_LABELS must look like priority:high=10,priority:low=-10, not {text!r}."
            )
        labels[label.strip()] = int(value)
    return labels


ISSUE_PRIORITY_LABELS = _priority_labels(
    env.str("ISSUE_PRIORITY_LABELS", default="priority:high=10,priority:low=-10")
)

# --- REST API docs and admin dashboard (budget/api.py, executions/api.py, orchestration_site/dashboard.py) ---
# Swagger UI served from drf-spectacular-sidecar's bundled assets: no CDN, works offline.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS |= {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "executions.models.Task.Status",
        "ExecutionStatusEnum": "executions.models.Execution.Status",
    },
}

# --- The pipeline (executions/providers, executions/pipeline/runner.py) ------------------------------
# Each simulated model call sleeps this long (0: instant), to watch progress or stop a worker mid-run.
SIMULATED_LATENCY_SECONDS = env.float("SIMULATED_LATENCY_SECONDS", default=0.0)

# --- Notifications: the outbox and its delivery (notifications/delivery.py, transports.py) -------
# Every event gets one delivery per enabled channel that wants it, in the event's transaction.
# - NOTIFY_ASYNC: right after that transaction commits, queue one django-q2 task
#   ``notifications.delivery.deliver_due`` (an insert into the ORM broker's queue, or a Redis push:
#   the pipeline never waits on a webhook). The cluster's periodic sweep runs the same task and
#   catches anything a lost trigger missed; ``send_notifications`` flushes by hand. Off: the sweep
#   and the command only.
# - A failed send is retried after NOTIFY_RETRY_BASE_SECONDS × 2^(attempt-1), at most
#   NOTIFY_RETRY_MAX_SECONDS; after NOTIFY_MAX_ATTEMPTS (8: ~2 h of trying at the defaults) it is
#   dead, listed in the admin where it can be retried. A 429 waits what the service asks and does
#   not use up an attempt.
# - NOTIFY_LEASE_SECONDS: a claimed delivery whose worker died is due again after this long. It
#   must be longer than one send can take (the two timeouts), so a live worker never loses its claim.
NOTIFY_ASYNC = env.bool("NOTIFY_ASYNC", default=True)
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=8)
NOTIFY_RETRY_BASE_SECONDS = env.int("NOTIFY_RETRY_BASE_SECONDS", default=60)
NOTIFY_RETRY_MAX_SECONDS = env.int("NOTIFY_RETRY_MAX_SECONDS", default=60 * 60)
NOTIFY_CONNECT_TIMEOUT_SECONDS = env.float("NOTIFY_CONNECT_TIMEOUT_SECONDS", default=5.0)
# Long enough for Discord's slow answers: a send that times out after Discord accepted it is retried
# and posts twice (at-least-once: docs/security.md). 30 s stays well inside NOTIFY_LEASE_SECONDS.
NOTIFY_READ_TIMEOUT_SECONDS = env.float("NOTIFY_READ_TIMEOUT_SECONDS", default=30.0)
NOTIFY_LEASE_SECONDS = env.int("NOTIFY_LEASE_SECONDS", default=5 * 60)
if not NOTIFY_CONNECT_TIMEOUT_SECONDS + NOTIFY_READ_TIMEOUT_SECONDS < NOTIFY_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "NOTIFY_LEASE_SECONDS must be longer than NOTIFY_CONNECT_TIMEOUT_SECONDS + "
        "NOTIFY_READ_TIMEOUT_SECONDS, or a slow send could be claimed and sent a second time."
    )
if NOTIFY_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(f"NOTIFY_MAX_ATTEMPTS must be at least 1, not {NOTIFY_MAX_ATTEMPTS}.")
