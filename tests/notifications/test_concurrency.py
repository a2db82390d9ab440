"""Two delivery workers at once, each with its own database connection: every delivery is sent
exactly once, and each channel still gets its messages in event order."""

import threading
from collections import Counter

import pytest
from django.db import connection

from notifications.delivery import deliver
from notifications.models import Delivery
from tests.notifications.conftest import error_event, markers


def run_workers(workers: int) -> list[Counter]:
    results: list[Counter] = [Counter() for _ in range(workers)]
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(i: int) -> None:
        try:
            start.wait()
            while counts := deliver(limit=25):
                results[i] += counts
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def two_workers_send_each_once(discord, make_channel, *, channels: int, events: int) -> list[Counter]:
    for c in range(channels):
        make_channel(f"Channel {c}", webhook_id=str(100 + c))
    for n in range(events):
        error_event(n)
    assert Delivery.objects.count() == channels * events

    results = run_workers(2)

    # The fake counts bodies per (webhook, event): each exactly once, in event order per webhook.
    per_webhook: dict[str, list[str]] = {}
    for request in discord.requests:
        per_webhook.setdefault(request.path, []).extend(markers([request.json]))
    assert len(per_webhook) == channels
    expected = [f"marker{n:06d}" for n in range(events)]
    for sent in per_webhook.values():
        assert sent == expected
    assert Delivery.objects.filter(status=Delivery.Status.SENT, attempts=1).count() == channels * events
    assert sum(r["sent"] for r in results) == channels * events
    assert all(set(r) == {"sent"} for r in results)
    return results


@pytest.mark.postgres
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_postgresql_send_500_deliveries_exactly_once(discord, make_channel):
    results = two_workers_send_each_once(discord, make_channel, channels=10, events=50)

    assert all(r["sent"] > 0 for r in results)  # both really worked, side by side


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_any_database_send_each_delivery_once(discord, make_channel):
    two_workers_send_each_once(discord, make_channel, channels=3, events=20)
