"""Settings come from the environment; production settings pass Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    """Run manage.py in development settings (DEBUG=1) unless ``DEBUG`` is given (None: unset)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG", "SECRET_KEY")}
    given = {k: v for k, v in {"DEBUG": "1", **env}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **given}, capture_output=True, text=True
    )


def test_production_settings_pass_check_deploy():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijkl",
        ALLOWED_HOSTS="orchestrator.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def assert_configuration_error(result, message: str) -> None:
    """Exit code 2 and one line naming the problem, not a traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"Configuration error: {message}"]


def test_debug_off_without_a_secret_key_is_a_configuration_error():
    assert_configuration_error(manage("check", DEBUG="0"), "Set the SECRET_KEY environment variable")


def test_a_bad_monthly_budget_stops_every_command_before_anything_runs():
    assert_configuration_error(
        manage("budget", "status", MONTHLY_BUDGET="-1"), "MONTHLY_BUDGET cannot be negative (got -1)"
    )
    assert_configuration_error(
        manage("run_execution", "A task", MONTHLY_BUDGET="lots"),
        "MONTHLY_BUDGET must be a number of dollars, like 15.00 (got 'lots')",
    )


def test_a_postgres_url_selects_postgresql():
    result = manage(
        "shell",
        "-c",
        "from django.db import connection; print(connection.vendor, connection.settings_dict['NAME'])",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
    )
    assert result.stdout.split()[-2:] == ["postgresql", "postgres"], result.stderr


def test_an_unknown_mode_is_refused_with_a_clear_message():
    assert_configuration_error(
        manage("check", ORCHESTRATOR_MODE="turbo"),
        "ORCHESTRATOR_MODE must be 'live' or 'simulated', not 'turbo'.",
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("Q_WORKERS", "two", "Q_WORKERS must be a whole number, not 'two'."),
        ("LLM_TIMEOUT_SECONDS", "soon", "LLM_TIMEOUT_SECONDS must be a number, not 'soon'."),
        (
            "PACING_ENABLED",
            "maybe",
            "PACING_ENABLED must be true or false (or 1/0, yes/no, on/off), not 'maybe'.",
        ),
        (
            "TIME_ZONE",
            "Mars/Olympus",
            "TIME_ZONE must be an IANA time zone like Europe/Paris, not 'Mars/Olympus'.",
        ),
        (
            "API_THROTTLE_RATE",
            "lots",
            "API_THROTTLE_RATE must look like 600/minute (per second, minute, hour or day), not 'lots'.",
        ),
        (
            "DATABASE_URL",
            "mysql://admin:hunter2@db/orchestrator",
            "DATABASE_URL must be a postgres:// or sqlite:/// URL.",
        ),
    ],
)
def test_a_malformed_setting_is_named_in_one_line(variable, value, message):
    result = manage("check", **{variable: value})
    assert_configuration_error(result, message)
    assert "hunter2" not in result.stdout + result.stderr


def test_the_usual_spellings_of_true_and_false_are_accepted():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.PACING_ENABLED, settings.GITHUB_DRAFT_PRS)",
        PACING_ENABLED="off",
        GITHUB_DRAFT_PRS="Yes",
    )
    assert result.stdout.split()[-2:] == ["False", "True"], result.stderr
