"""Admin fixtures: a pinned clock (the month, pace and warnings depend on it)."""

from html.parser import HTMLParser

import pytest
import time_machine

from tests.api.conftest import NOW


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") and attrs.get("type") not in ("submit", "checkbox"):
            self.values[attrs["name"]] = attrs.get("value") or ""


def form_fields(html: str) -> dict[str, str]:
    """The inputs a browser would post back from an admin page (hidden management forms included)."""
    parser = _Inputs()
    parser.feed(html)
    return parser.values
