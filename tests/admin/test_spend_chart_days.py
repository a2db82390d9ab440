"""The spend chart's day labels never print over each other, in any month."""

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from budget.periods import current_period
from orchestration_site.charts import PLOT_H, TOP, spend_chart

pytestmark = pytest.mark.django_db
DAY_LABEL = re.compile(rf'<text x="(\d+)" y="{TOP + PLOT_H + 18}"[^>]*>([A-Z][a-z]{{2}} \d+)</text>')


@pytest.mark.parametrize(
    "month", [dt.date(2026, 12, 1), dt.date(2027, 2, 1), dt.date(2026, 11, 1), dt.date(2028, 2, 1)]
)
def test_day_labels_stand_apart_and_the_last_day_is_named(month):
    with time_machine.travel(dt.datetime(month.year, month.month, 20, 12, tzinfo=dt.UTC), tick=False):
        period = current_period()
        svg = spend_chart(period, [], [], [], now=timezone.now())
    labels = [(int(x), text) for x, text in DAY_LABEL.findall(svg)]
    last = timezone.localtime(period.ends_at - dt.timedelta(microseconds=1)).date()
    assert labels[0][1] == month.strftime("%b 1") and labels[-1][1] == last.strftime("%b %-d")
    gaps = [b[0] - a[0] for a, b in zip(labels, labels[1:], strict=False)]
    assert min(gaps) >= 48, labels  # wider than "Dec 30" at the chart's font size
