"""Discord's read timeout is long enough for its normal latency (issue 20, item 7).

A send that times out after Discord accepted it is retried and posts twice; the only defence the
webhook API leaves is waiting long enough for its answer (docs/security.md: at-least-once).
"""

import time

from notifications.transports import post_json
from tests.fakes.server import FakeServer, Response


class SlowWebhook(FakeServer):
    delay = 0.5

    def handle(self, request):
        time.sleep(self.delay)
        return Response(204)


def test_the_default_read_timeout_allows_for_discords_slow_answers(settings):
    assert settings.NOTIFY_READ_TIMEOUT_SECONDS == 30.0
    assert settings.NOTIFY_CONNECT_TIMEOUT_SECONDS + settings.NOTIFY_READ_TIMEOUT_SECONDS < (
        settings.NOTIFY_LEASE_SECONDS
    )


def test_a_slow_answer_within_the_read_timeout_is_one_delivery(settings):
    settings.NOTIFY_READ_TIMEOUT_SECONDS = 5.0
    with SlowWebhook() as fake:
        outcome = post_json(f"{fake.url}/api/webhooks/1/t", {"content": "hi"}, gone_statuses=frozenset())

    assert outcome.ok and len(fake.requests) == 1


def test_an_answer_slower_than_the_read_timeout_is_a_timeout_to_retry(settings):
    settings.NOTIFY_READ_TIMEOUT_SECONDS = 0.1
    with SlowWebhook() as fake:
        outcome = post_json(f"{fake.url}/api/webhooks/1/t", {"content": "hi"}, gone_statuses=frozenset())

    assert not outcome.ok and "no answer within 0.1 s" in outcome.error
    assert len(fake.requests) == 1  # Discord may still have posted it: hence the long default
