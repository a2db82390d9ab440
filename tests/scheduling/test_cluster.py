"""A real worker: ``qcluster`` runs the scheduled execution, the outbox reaches Discord, and SIGTERM
stops every process it started. On the ORM broker (PostgreSQL) and on the Redis broker."""

import os
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django_q.models import Schedule
from django_q.models import Task as QTask

from executions.backlog.services import create_task
from executions.models import Execution, Task
from tests.executions.conftest import assert_ledger_consistent
from tests.fakes.discord import FakeDiscord
from tests.scheduling.cluster import Cluster, wait_for

# The clusters run the seeded models, in service on the pinned day (tests.clock passes it on).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("pinned_clock"),
]


def discord_titles(discord: FakeDiscord) -> list[str]:
    return [
        embed.get("title", "") for message in list(discord.messages) for embed in message.get("embeds", [])
    ]


def scheduled_execution_reaches_discord(settings, while_running=lambda: None, **broker_env):
    call_command("setup_schedules", stdout=StringIO())
    task = create_task(title="Add a health check endpoint")
    with FakeDiscord() as discord:
        cluster = Cluster(
            settings, DISCORD_WEBHOOK_URL=discord.webhook_url(), SCHEDULE_MINUTES="1", **broker_env
        )
        with cluster:
            execution = wait_for(
                lambda: Execution.objects.filter(task=task, status=Execution.Status.SUCCEEDED).first(),
                40,
                "the scheduled execution",
                (cluster,),
            )
            expected = {
                f"[simulated] Execution #{execution.pk} {verb}: {task.title}"
                for verb in ("started", "completed")
            }
            wait_for(lambda: expected <= set(discord_titles(discord)), 20, "the Discord messages", (cluster,))
            while_running()
            code = cluster.stop()

    assert code == 0, cluster.log
    assert not cluster.leftovers()
    assert "has stopped" in cluster.log
    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert Execution.objects.count() == 1
    runner = QTask.objects.get(group="run-next-execution")
    assert runner.success and runner.result == f"execution {execution.pk} of task {task.pk} succeeded"
    assert Schedule.objects.get(name="run-next-execution").task == runner.id
    assert not re.search(r"/api/webhooks/\d+/\S+", cluster.log)  # the webhook URL is a secret
    assert_ledger_consistent(execution.period)
    return cluster


def test_scheduled_execution_on_the_orm_broker(settings):
    assert connection.vendor == "postgresql"
    scheduled_execution_reaches_discord(settings)


@pytest.mark.redis
def test_scheduled_execution_on_the_redis_broker(settings):
    import redis

    url = os.environ["TEST_REDIS_URL"]
    client = redis.from_url(url)
    client.flushdb()  # this test's own Redis database: no queue left by an earlier run
    db = str(client.connection_pool.connection_kwargs.get("db", 0))

    def cluster_uses_redis():
        me = client.client_id()
        assert [c for c in client.client_list() if c["db"] == db and int(c["id"]) != me], "no cluster client"

    scheduled_execution_reaches_discord(settings, while_running=cluster_uses_redis, REDIS_URL=url)
