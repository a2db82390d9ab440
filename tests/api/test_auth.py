"""Who may do what: reading needs a user (token or session), writing needs staff; throttling is on."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db

READS = [
    "/api/v1/usage/current/",
    "/api/v1/usage/months/",
    "/api/v1/usage/daily/",
    "/api/v1/usage/models/",
    "/api/v1/executions/",
    "/api/v1/tasks/",
]


@pytest.mark.parametrize("url", READS)
def test_anonymous_requests_are_refused(url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("url", READS)
def test_a_wrong_token_is_refused(url):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get(url).status_code == 401


@pytest.mark.parametrize("url", READS)
def test_a_token_or_a_session_may_read(api, member, url):
    assert api.get(url).status_code == 200
    session = APIClient()
    session.force_login(member)
    assert session.get(url).status_code == 200


def test_anonymous_writes_are_refused():
    client = APIClient()
    assert client.post("/api/v1/tasks/", {"title": "x"}, format="json").status_code == 401
    assert client.post("/api/v1/tasks/1/run/").status_code == 401


def test_requests_beyond_the_rate_are_throttled(api, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})

    codes = [api.get("/api/v1/usage/current/").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]


def test_the_schema_and_its_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/usage/current/" in schema.json()["paths"]
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
