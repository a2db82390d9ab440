"""A server-rendered SVG of a period's cumulative spend against its limit and the even-spend line.

No JavaScript, no external assets: the chart is a string of SVG built from the ledger's per-day
totals. Coordinates are integer arithmetic on nanodollars and microseconds, so no float touches
money on the way to a pixel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.html import escape

from budget.models import Milestone, Period
from budget.money import NANOS_PER_DOLLAR, format_usd

WIDTH, HEIGHT = 960, 330
LEFT, RIGHT, TOP, BOTTOM = 64, 84, 20, 36
MIN_LABEL_GAP_DAYS = 2  # a day is ~26 px at 31 days a month; a label "Dec 30" is ~35 px wide
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

SPEND, LIMIT, EVEN, MILESTONE, GRID, TEXT = "#417690", "#ba2121", "#8a8a8a", "#d19a00", "#e6e6e6", "#555"


@dataclass(frozen=True)
class Frame:
    """Maps (instant, nanodollars) to SVG coordinates for one period."""

    start: dt.datetime
    end: dt.datetime
    top_nanos: int

    def x(self, when: dt.datetime) -> int:
        when = min(max(when, self.start), self.end)
        span = _micros(self.end - self.start) or 1
        return LEFT + PLOT_W * _micros(when - self.start) // span

    def y(self, nanos: int) -> int:
        return TOP + PLOT_H - PLOT_H * min(nanos, self.top_nanos) // self.top_nanos


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _tick_step(top_nanos: int) -> int:
    """A round step (1, 2, 5 × 10^k dollars or cents) giving four to eight gridlines."""
    step = NANOS_PER_DOLLAR // 100
    while True:
        for factor in (1, 2, 5):
            if top_nanos // (step * factor) <= 7:
                return step * factor
        step *= 10


def _axis_top(limit_nanos: int, spent_nanos: int) -> int:
    peak = max(limit_nanos, spent_nanos, NANOS_PER_DOLLAR)
    step = _tick_step(peak)
    return (peak // step + 1) * step  # headroom above the limit line for its label


def cumulative_points(
    period: Period, daily: list[tuple[dt.date, int]], now: dt.datetime
) -> list[tuple[dt.datetime, int]]:
    """(instant, cumulative spend) at the period's start and at the end of each day up to now."""
    tz = timezone.get_current_timezone()
    spent_by_day = dict(daily)
    points = [(period.starts_at, 0)]
    total = 0
    day = timezone.localtime(period.starts_at).date()
    last_day = timezone.localtime(min(now, period.ends_at)).date()
    while day <= last_day:
        total += spent_by_day.get(day, 0)
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        points.append((min(day_end, now, period.ends_at), total))
        day += dt.timedelta(days=1)
    return points


def spend_chart(
    period: Period,
    daily: list[tuple[dt.date, int]],
    milestones: list[Milestone],
    thresholds: list[int],
    *,
    now: dt.datetime,
    projected_nanos: int | None = None,
) -> str:
    """The SVG markup (safe to embed) of the period's spend."""
    points = cumulative_points(period, daily, now)
    spent = points[-1][1]
    frame = Frame(period.starts_at, period.ends_at, _axis_top(period.limit_nanos, spent))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="spend-chart" aria-labelledby="spend-chart-title">',
        f'<title id="spend-chart-title">Cumulative spend in {period.month:%B %Y}: '
        f"{escape(format_usd(spent, places=2))} of {escape(format_usd(period.limit_nanos, places=2))}</title>",
        *_grid(frame, period),
        *_thresholds(frame, thresholds),
        _line(frame, "even-spend-line", [(period.starts_at, 0), (period.ends_at, period.limit_nanos)],
              EVEN, dash="6 4"),
        _line(frame, "limit-line", [(period.starts_at, period.limit_nanos), (period.ends_at, period.limit_nanos)],
              LIMIT, dash="8 4", width=2),
        _label(frame.x(period.ends_at) + 6, frame.y(period.limit_nanos) + 4,
               f"limit {format_usd(period.limit_nanos, places=2)}", LIMIT, "start", bold=True),
        _label(frame.x(period.ends_at) + 6, frame.y(period.limit_nanos) + 18, "even spend ↗", EVEN, "start"),
        *_today(frame, now, period),
        *_projection(frame, now, spent, projected_nanos, period),
        _area(frame, points),
        _line(frame, "spend-path", points, SPEND, width=3),
        *_milestones(frame, milestones),
        "</svg>",
    ]  # fmt: skip
    return "\n".join(p for p in parts if p)


def _path(frame: Frame, points: list[tuple[dt.datetime, int]]) -> str:
    return " ".join(
        f"{'M' if i == 0 else 'L'}{frame.x(when)},{frame.y(nanos)}" for i, (when, nanos) in enumerate(points)
    )


def _line(frame, element_id, points, colour, *, dash="", width=1.5) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<path id="{element_id}" d="{_path(frame, points)}" fill="none" stroke="{colour}" '
        f'stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"{dashed}/>'
    )


def _area(frame: Frame, points) -> str:
    baseline = frame.y(0)
    d = f"{_path(frame, points)} L{frame.x(points[-1][0])},{baseline} L{frame.x(points[0][0])},{baseline} Z"
    return f'<path d="{d}" fill="{SPEND}" fill-opacity="0.12" stroke="none"/>'


def _label(x: int, y: int, text: str, colour: str, anchor: str, *, bold: bool = False, size: int = 11) -> str:
    weight = ' font-weight="600"' if bold else ""
    return (
        f'<text x="{x}" y="{y}" fill="{colour}" font-size="{size}" text-anchor="{anchor}"{weight} '
        f'font-family="system-ui, sans-serif">{escape(text)}</text>'
    )


def _grid(frame: Frame, period: Period) -> list[str]:
    parts = []
    step = _tick_step(frame.top_nanos)
    for nanos in range(0, frame.top_nanos + 1, step):
        y = frame.y(nanos)
        places = 0 if step % NANOS_PER_DOLLAR == 0 else 2
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + PLOT_W}" y2="{y}" stroke="{GRID}"/>')
        parts.append(_label(LEFT - 8, y + 4, format_usd(nanos, places=places), TEXT, "end"))
    tz = timezone.get_current_timezone()
    first = timezone.localtime(period.starts_at).date()
    last = timezone.localtime(period.ends_at - dt.timedelta(microseconds=1)).date()
    day = first
    while day <= last:
        # Every fifth day, and the first and last; a fifth day right before the last is left
        # out, so "Dec 30" is not printed over "Dec 31".
        if day in (first, last) or (day.day % 5 == 0 and (last - day).days >= MIN_LABEL_GAP_DAYS):
            x = frame.x(dt.datetime.combine(day, dt.time(12), tzinfo=tz))
            parts.append(
                f'<line x1="{x}" y1="{TOP + PLOT_H}" x2="{x}" y2="{TOP + PLOT_H + 4}" stroke="{TEXT}"/>'
            )
            parts.append(_label(x, TOP + PLOT_H + 18, day.strftime("%b %-d"), TEXT, "middle"))
        day += dt.timedelta(days=1)
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + PLOT_W}" y2="{TOP + PLOT_H}" stroke="{TEXT}"/>'
    )
    return parts


def _thresholds(frame: Frame, thresholds: list[int]) -> list[str]:
    parts = []
    for nanos in thresholds:
        if nanos < frame.top_nanos:
            y = frame.y(nanos)
            parts.append(
                f'<line class="threshold" x1="{LEFT}" y1="{y}" x2="{LEFT + PLOT_W}" y2="{y}" '
                f'stroke="{MILESTONE}" stroke-opacity="0.45" stroke-dasharray="2 4"/>'
            )
    return parts


def _today(frame: Frame, now: dt.datetime, period: Period) -> list[str]:
    if not period.starts_at <= now < period.ends_at:
        return []
    x = frame.x(now)
    return [
        f'<line id="today-line" x1="{x}" y1="{TOP}" x2="{x}" y2="{TOP + PLOT_H}" stroke="{TEXT}" '
        f'stroke-opacity="0.35"/>',
        _label(x, TOP - 6, "now", TEXT, "middle"),
    ]


def _projection(frame, now, spent, projected_nanos, period) -> list[str]:
    if projected_nanos is None or not period.starts_at < now < period.ends_at:
        return []
    return [
        _line(frame, "projection-line", [(now, spent), (period.ends_at, projected_nanos)], SPEND, dash="3 4"),
    ]


def _milestones(frame: Frame, milestones: list[Milestone]) -> list[str]:
    parts = []
    for m in milestones:
        x, y = frame.x(m.reached_at), frame.y(m.threshold_nanos)
        label = format_usd(m.threshold_nanos, places=2)
        parts.append(
            f'<g class="milestone" data-threshold="{escape(label)}">'
            f"<title>{escape(label)} reached {timezone.localtime(m.reached_at):%b %-d, %H:%M}</title>"
            f'<circle cx="{x}" cy="{y}" r="6" fill="{MILESTONE}" stroke="#fff" stroke-width="2"/>'
            f"{_label(x - 8, y - 10, label, MILESTONE, 'end', bold=True)}</g>"
        )
    return parts
