"""A simulated run to $10 through the real pipeline and ledger: Discord gets exactly one $5 and one
$10 milestone message, in order, among the executions' own messages."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from budget.models import LanguageModel, Milestone, Price
from budget.periods import current_period
from notifications.models import Delivery, Event

# The runs are priced at the seeded models, in service on the pinned day.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]


def make_analysis_pricier() -> None:
    """A new price from today for the analysis model (and its successor): ~$0.61 an execution
    instead of $0.031, so the run to $10 takes ~17 executions, not 320. Everything else is real."""
    for name in ("claude-sonnet-4-5", "claude-sonnet-5-5"):
        Price.objects.create(
            model=LanguageModel.objects.get(name=name),
            effective_from=timezone.localdate(),
            input_nanos=3_000,
            output_nanos=400_000,  # $400 per 1M output tokens
        )


def run_to_ten_dollars(discord, make_channel) -> list[str]:
    make_channel()
    call_command("simulate", "--until", "10", stdout=io.StringIO())
    out = io.StringIO()
    call_command("send_notifications", stdout=out)  # raises (exit 1) if anything failed

    assert current_period().spent_nanos >= 10_000_000_000
    assert out.getvalue().startswith(f"Notifications: sent {Event.objects.count()}.")
    titles = [body["embeds"][0]["title"] for body in discord.messages]
    # Every event arrived exactly once, in the order the events happened.
    expected = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    sent = list(Delivery.objects.order_by("sent_at", "pk").values_list("event_id", flat=True))
    assert sent == expected and len(titles) == len(expected)
    return titles


def test_a_simulated_run_to_ten_dollars_announces_five_and_ten_once_in_order(discord, make_channel):
    make_analysis_pricier()

    titles = run_to_ten_dollars(discord, make_channel)

    milestones = [t for t in titles if "milestone reached" in t]
    assert [t.split(" — ")[0] for t in milestones] == ["$5 milestone reached", "$10 milestone reached"]
    assert Milestone.objects.count() == 2
    # The $5 message sits between the execution messages of the run that crossed it.
    five = titles.index(milestones[0])
    assert 0 < five < titles.index(milestones[1]) < len(titles)


@pytest.mark.slow
def test_the_same_at_the_seed_prices(discord, make_channel):
    """The real thing: ~320 simulated executions at the seed's $0.031275 each."""
    titles = run_to_ten_dollars(discord, make_channel)

    milestones = [t.split(" — ")[0] for t in titles if "milestone reached" in t]
    assert milestones == ["$5 milestone reached", "$10 milestone reached"]
