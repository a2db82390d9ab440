"""NUL in an admin URL (issue 32): a list filter's value or an object id holding one answered 500
on PostgreSQL, which cannot hold NUL in text. Every such page answers a clean 400 now, on both
databases (the suite's PostgreSQL pass runs these too)."""

import pytest

pytestmark = pytest.mark.django_db

LISTS = [
    "/admin/executions/pullrequest/",
    "/admin/executions/repository/",
    "/admin/executions/revision/",
    "/admin/notifications/channel/",
    "/admin/notifications/event/",
]
DJANGO_Q = ["schedule", "success", "failure", "ormq"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("query", ["repository=%00", "kind__exact=%00"])
def test_a_list_filter_holding_a_nul_answers_a_clean_400(admin_client, path, query):
    response = admin_client.get(f"{path}?{query}")

    name = query.split("=")[0]
    assert response.status_code == 400
    assert response.content.decode() == f"Bad request: the query parameter '{name}' holds a NUL character.\n"
    assert admin_client.get(path).status_code == 200  # the list itself is fine


@pytest.mark.parametrize("model", DJANGO_Q)
def test_a_django_q_page_for_an_id_holding_a_nul_answers_a_clean_400(admin_client, model):
    response = admin_client.get(f"/admin/django_q/{model}/%00/change/")

    assert response.status_code == 400
    assert response.content.decode() == "Bad request: the URL's path holds a NUL character.\n"
    # An id that is merely unknown is the admin's own "doesn't exist" redirect, as before.
    assert admin_client.get(f"/admin/django_q/{model}/999/change/").status_code == 302
