"""The worker's configuration comes from the environment, and a bad value stops it at startup."""

import json

import pytest

from tests.test_settings import manage

SHOW = "import json; from django.conf import settings as s; print(json.dumps(s.Q_CLUSTER))"


def q_cluster(**env) -> dict:
    result = manage("shell", "-c", SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_orm_broker_by_default_redis_when_redis_url_is_set():
    default = q_cluster()
    redis = q_cluster(REDIS_URL="redis://cache.internal:6379/2", Q_WORKERS="6")

    assert default["orm"] == "default" and "redis" not in default
    assert redis["redis"] == "redis://cache.internal:6379/2" and "orm" not in redis
    assert redis["workers"] == 6


def test_a_running_execution_is_never_handed_to_a_second_worker():
    conf = q_cluster(Q_TIMEOUT_SECONDS="1200", RESERVATION_TIMEOUT_SECONDS="1500")

    assert conf["timeout"] == 1200 < conf["retry"]  # handed out again only after the first worker is gone
    assert (conf["max_attempts"], conf["ack_failures"], conf["catch_up"]) == (1, True, False)


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
            "Q_TIMEOUT_SECONDS (1500) must be longer than an execution's model calls can take "
            "(2 × LLM_TIMEOUT_SECONDS × (LLM_MAX_RETRIES + 1) = 2400 s)",
        ),
    ],
)
def test_a_bad_scheduling_setting_is_refused_with_a_clear_message(env, message):
    result = manage("check", **env)

    assert result.returncode != 0
    assert message in result.stderr
