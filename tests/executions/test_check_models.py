"""``check_models`` drives the real anthropic and openai SDKs against the fakes' ``GET /v1/models``."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from budget.models import LanguageModel
from executions.jobs import check_vendor_models
from executions.models import StepConfig
from notifications.models import Channel, Delivery, Event
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.openai import API_KEY as OPENAI_KEY

pytestmark = [pytest.mark.django_db]

DECEMBER_FIRST = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _december_first():
    """claude-sonnet-4-5 has retired (claude-sonnet-5-5 runs instead); gpt-4o-mini still runs."""
    with time_machine.travel(DECEMBER_FIRST, tick=True):
        yield


def check_models() -> list[str]:
    out = StringIO()
    call_command("check_models", stdout=out)
    return out.getvalue().splitlines()


def model_list_requests(fake) -> list:
    return [r for r in fake.requests if (r.method, r.path) == ("GET", "/v1/models")]


def test_both_lists_are_read_shutdown_dates_recorded_and_announced_once(live):
    anthropic_fake, openai_fake = live
    anthropic_fake.page_size = 1  # the SDK follows has_more / last_id through every page
    channel = Channel.objects.create(name="Team", url="https://discord.com/api/webhooks/1/secret")

    first = check_models()
    again = check_models()

    assert first == [
        "Not listed: claude-sonnet-4-5 (retired: its successor runs instead)",
        "Shutdown date: gpt-4o-mini on 2027-01-14",
        "checked: Anthropic, OpenAI; not listed: claude-sonnet-4-5 (retired: its successor runs instead); "
        "shutdown dates: 1; newly announced: 1",
    ]
    assert again[-1].endswith("newly announced: 0")
    pages = model_list_requests(anthropic_fake)
    assert len(pages) == 2 * 2  # two pages of one model, twice
    assert pages[1].query["after_id"] == ["claude-sonnet-5-5"]
    assert pages[0].headers.get("x-api-key") == ANTHROPIC_KEY or ANTHROPIC_KEY in pages[0].headers.get(
        "authorization", ""
    )
    assert model_list_requests(openai_fake)[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    shutdowns = dict(LanguageModel.objects.values_list("name", "vendor_shutdown_on"))
    assert shutdowns["gpt-4o-mini"] == dt.date(2027, 1, 14)
    assert shutdowns["gpt-6-luna"] is None and shutdowns["claude-sonnet-5-5"] is None
    [event] = Event.objects.filter(kind=Event.Kind.MODEL_RETIRING)
    assert event.key == "model-shutdown:gpt-4o-mini:2027-01-14"
    assert event.payload == {
        "model": "gpt-4o-mini",
        "retires_on": "2027-01-14",
        "successor": "gpt-6-luna",
        "days_left": 44,
        "source": "the vendor's model list",
    }
    assert list(Delivery.objects.values_list("channel", "event")) == [(channel.pk, event.pk)]


def test_a_model_in_use_that_the_vendor_no_longer_lists_is_said_once(live):
    _, openai_fake = live
    openai_fake.models = [m for m in openai_fake.models if m["id"] != "gpt-4o-mini"]

    first = check_models()
    check_models()

    assert "Not listed: gpt-4o-mini" in first
    [event] = Event.objects.filter(kind=Event.Kind.ERROR)
    assert event.payload["message"].startswith(
        "OpenAI no longer lists gpt-4o-mini (used by the codegen step): calls to it will fail."
    )


def test_a_shutdown_date_the_catalog_does_not_cover_is_a_budget_status_warning(live):
    _, openai_fake = live
    StepConfig.objects.filter(step="codegen").update(model_name="gpt-6-luna")
    next(m for m in openai_fake.models if m["id"] == "gpt-6-luna")["shutdown_date"] = "2027-06-30"

    check_models()
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)

    assert (
        "OpenAI's model list shuts gpt-6-luna (codegen) down on 2027-06-30, but the catalog does not "
        "retire it by then: set its retirement date and a successor in the admin."
    ) in json.loads(out.getvalue())["warnings"]
    assert Event.objects.get(kind=Event.Kind.MODEL_RETIRING).key == "model-shutdown:gpt-6-luna:2027-06-30"


def test_an_unreachable_vendor_is_a_warning_and_the_other_is_still_checked(live, settings):
    anthropic_fake, openai_fake = live
    settings.LLM_MAX_RETRIES = 1
    openai_fake.fail(500, times=2)
    before = dict(LanguageModel.objects.values_list("name", "vendor_shutdown_on"))

    lines = check_models()

    assert lines[0] == "Warning: OpenAI server error (500) after 1 retry: OpenAI's models were not checked"
    assert lines[-1].startswith("checked: Anthropic; ")
    assert len(model_list_requests(openai_fake)) == 2  # the SDK retried, then gave up
    assert dict(LanguageModel.objects.values_list("name", "vendor_shutdown_on")) == before
    assert not Event.objects.filter(kind=Event.Kind.MODEL_RETIRING).exists()


def test_no_vendor_reachable_still_exits_0_with_one_warning_each(settings):
    # No fakes: both base URLs point at a closed port (tests/conftest.py).
    settings.ANTHROPIC_API_KEY, settings.OPENAI_API_KEY = ANTHROPIC_KEY, ""
    settings.LLM_MAX_RETRIES = 0

    lines = check_models()

    assert lines == [
        "Warning: Could not reach Anthropic (APIConnectionError, after 0 retries): check the network and "
        "the base URL: Anthropic's models were not checked",
        "Warning: OPENAI_API_KEY is not set: OpenAI's models were not checked",
        "checked: none; not listed: none; shutdown dates: 0; newly announced: 0",
    ]
    assert not Event.objects.exists()


def test_a_rejected_key_is_a_warning_that_never_shows_the_key(live, settings):
    settings.OPENAI_API_KEY = "sk-proj-wrong-key-9999999999"

    lines = check_models()

    assert lines[0] == (
        "Warning: OpenAI rejected the API key (401): check OPENAI_API_KEY: OpenAI's models were not checked"
    )
    assert "sk-proj-wrong" not in "\n".join(lines)


def test_the_weekly_job_returns_the_summary(live):
    assert check_vendor_models() == (
        "checked: Anthropic, OpenAI; not listed: claude-sonnet-4-5 (retired: its successor runs instead); "
        "shutdown dates: 1; newly announced: 1"
    )
