"""docker-compose.yml: the stack's environment is one the product starts with, and every variable it
sets is one the product reads (a misspelt name would be ignored without a word)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SECRET = "a-long-random-production-secret-key-0123456789-abcdefghijkl"

# Run in a fresh process (not ``manage.py shell``: it reads the settings before this code runs):
# the settings as the stack's containers would build them, and every variable name they read.
SHOW = """
import json, os, environ
asked = set()
get_value = environ.Env.get_value
def recording(self, var, *args, **kwargs):
    asked.add(var)
    return get_value(self, var, *args, **kwargs)
environ.Env.get_value = recording
import django
django.setup()
from django.conf import settings
from django_q.brokers import get_broker
from django_q.conf import Conf
database = settings.DATABASES["default"]
print(json.dumps({
    "asked": sorted(asked),
    "database": [database["ENGINE"], database["HOST"], database["NAME"]],
    "broker": type(get_broker()).__name__,
    "debug": settings.DEBUG,
    "mode": settings.ORCHESTRATOR_MODE,
    "workers": Conf.WORKERS,
}))
"""


def stack_environment(service: str, **host) -> dict[str, str]:
    """The service's environment as compose builds it from the host's (``${VAR:-default}``)."""
    environment = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][service][
        "environment"
    ]

    def interpolate(match: re.Match) -> str:
        name, default = match["name"], match["default"] or ""
        if name not in host and (match["op"] or "").startswith(":?"):
            raise AssertionError(f"compose refuses to start without {name}")
        return host.get(name) or ("" if (match["op"] or "").startswith(":?") else default)

    pattern = re.compile(r"\$\{(?P<name>[A-Z_]+)(?P<op>:[-?](?P<default>[^}]*))?\}")
    # A variable listed without a value is passed through only when the host sets it.
    return {
        name: host[name] if value is None else pattern.sub(interpolate, str(value))
        for name, value in environment.items()
        if value is not None or name in host
    }


def show(env: dict[str, str]) -> dict:
    """Start the product in a process whose environment is only ``env``, as in a container."""
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "orchestration_site.settings", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_worker_runs_on_postgres_and_redis_in_production_mode():
    seen = show(stack_environment("worker", SECRET_KEY=SECRET))

    assert seen["database"] == ["django.db.backends.postgresql", "db", "orchestrator"]
    assert seen["broker"] == "Redis"
    assert (seen["debug"], seen["mode"], seen["workers"]) == (False, "simulated", 2)


def test_the_host_settings_reach_the_product():
    seen = show(
        stack_environment("web", SECRET_KEY=SECRET, Q_WORKERS="5", ANTHROPIC_API_KEY="a", OPENAI_API_KEY="o")
    )

    assert (seen["mode"], seen["workers"]) == ("live", 5)


def test_every_variable_the_stack_sets_is_one_the_product_reads():
    for service in ("migrate", "web", "worker"):
        environment = stack_environment(service, SECRET_KEY=SECRET, ORCHESTRATOR_MODE="simulated")
        assert set(environment) - set(show(environment)["asked"]) == set(), service
