"""The worker's configuration comes from the environment, and a bad value stops it at startup."""

import datetime as dt
import json

import pytest
import time_machine
from django_q.brokers import get_broker
from django_q.conf import Conf

from tests.test_settings import manage

SHOW = (
    "import json; from django_q.brokers import get_broker; from django_q.conf import Conf; "
    "print(json.dumps({'broker': type(get_broker()).__name__, 'workers': Conf.WORKERS}))"
)


def worker(**env) -> dict:
    """The broker and the worker count django-q2 uses under ``env``."""
    result = manage("shell", "-c", SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_orm_broker_by_default_redis_when_redis_url_is_set():
    assert worker()["broker"] == "ORM"
    assert worker(REDIS_URL="redis://cache.internal:6379/2", Q_WORKERS="6") == {
        "broker": "Redis",
        "workers": 6,
    }


@pytest.mark.django_db
def test_a_running_execution_is_never_handed_to_a_second_worker():
    """The database broker hands a taken task out again only after its worker's time is up."""
    broker = get_broker()
    with time_machine.travel("2026-11-15 12:00Z", tick=False) as clock:
        broker.enqueue("run task 1")
        clock.shift(dt.timedelta(seconds=1))
        [(_, payload)] = broker.dequeue()  # a worker takes it
        assert payload == "run task 1"

        clock.shift(dt.timedelta(seconds=Conf.TIMEOUT))  # as long as q2 lets that worker run it
        assert not broker.dequeue()

        clock.shift(dt.timedelta(minutes=10))  # the worker is gone: another takes it soon after
        assert [p for _, p in broker.dequeue()] == ["run task 1"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCHEDULE_MINUTES": "0"}, "SCHEDULE_MINUTES must be at least 1, not 0."),
        ({"MAX_CONCURRENT_EXECUTIONS": "0"}, "MAX_CONCURRENT_EXECUTIONS must be at least 1, not 0."),
        ({"MODEL_RETIREMENT_NOTICE_DAYS": "-1"}, "MODEL_RETIREMENT_NOTICE_DAYS must be at least 0, not -1."),
        (
            {"Q_TIMEOUT_SECONDS": "3600"},
            "Q_TIMEOUT_SECONDS (3600) must be shorter than RESERVATION_TIMEOUT_SECONDS",
        ),
        (
            {"LLM_TIMEOUT_SECONDS": "300"},
            "Q_TIMEOUT_SECONDS (2520) must be longer than an execution's model calls can take "
            "((2 + ANALYSIS_LOOKUPS + CODEGEN_REFLECTIONS) × LLM_TIMEOUT_SECONDS × (LLM_MAX_RETRIES + 1) = 6000 s)",
        ),
        (
            # A look-up round is one more analysis call: at the defaults it takes the calls to 40 min.
            {"Q_TIMEOUT_SECONDS": "2400"},
            "Q_TIMEOUT_SECONDS (2400) must be longer than an execution's model calls can take "
            "((2 + ANALYSIS_LOOKUPS + CODEGEN_REFLECTIONS) × LLM_TIMEOUT_SECONDS × (LLM_MAX_RETRIES + 1) = 2400 s)",
        ),
    ],
)
def test_a_bad_scheduling_setting_is_refused_with_a_clear_message(env, message):
    result = manage("check", **env)

    assert result.returncode != 0
    assert message in result.stderr
