"""A delivery worker killed in the middle of a send: its claim runs out and the message is sent by
the next worker, once; until then no one else takes it."""

import datetime as dt
import os
import subprocess
import threading
import time

import pytest
from django.utils import timezone

from notifications.delivery import deliver_due
from notifications.models import Channel, Delivery
from tests.clock import manage_py
from tests.executions.test_two_processes import test_database_url
from tests.fakes.discord import FakeDiscord
from tests.fakes.server import Request, Response
from tests.notifications.conftest import error_event, markers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class HangingDiscord(FakeDiscord):
    """Holds the first request open, as a stuck connection would, until ``release`` is set."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def handle(self, request: Request) -> Response:
        if len(self.requests) == 1:
            self.release.wait(timeout=30)
            return Response(500, {"message": "the worker is gone", "code": 0})
        return super().handle(request)


def test_a_killed_worker_leaves_a_claim_that_runs_out_then_the_message_goes_once(settings):
    with HangingDiscord() as fake:
        Channel.objects.create(name="Team", url=fake.webhook_url())
        error_event(1)
        worker = subprocess.Popen(
            manage_py("send_notifications"),
            env={**os.environ, "DATABASE_URL": test_database_url(), "NOTIFY_LEASE_SECONDS": "300"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while not fake.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert fake.requests, worker.communicate(timeout=5)
            worker.kill()  # SIGKILL in the middle of the send: nothing is recorded
            worker.wait(timeout=10)
        finally:
            fake.release.set()

        claimed = Delivery.objects.get()
        assert (claimed.status, claimed.attempts) == (Delivery.Status.SENDING, 1)
        lease_end = claimed.next_attempt_at
        assert lease_end > timezone.now() + dt.timedelta(seconds=250)

        assert deliver_due() == "notifications: nothing due"  # still claimed: not sent twice at once
        assert deliver_due(now=lease_end) == "notifications: 1 sent"

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SENT, 2)
    assert markers(fake.messages) == ["marker000001"]
    assert len(fake.requests) == 2
