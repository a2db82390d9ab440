"""docker-compose.yml: the services the README starts, wired to what the settings read."""

import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_web_worker_database_and_redis_with_migrations_and_schedules_first():
    assert set(SERVICES) == {"db", "redis", "migrate", "web", "worker"}
    assert SERVICES["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert "command" not in SERVICES["web"]  # the image's gunicorn
    assert "gunicorn orchestration_site.wsgi:application" in (ROOT / "Dockerfile").read_text()
    assert (
        SERVICES["migrate"]["command"][-1]
        == "python manage.py migrate --noinput && python manage.py setup_schedules"
    )
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert SERVICES[name]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_every_variable_it_sets_is_one_the_settings_read():
    environment = SERVICES["worker"]["environment"]
    read = set(
        re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (ROOT / "orchestration_site" / "settings.py").read_text())
    )
    read |= {"DATABASE_URL"}  # env.db("DATABASE_URL", ...)
    assert set(environment) - read == set()
    assert "@db:5432/" in environment["DATABASE_URL"] and environment["REDIS_URL"].startswith(
        "redis://redis:"
    )
