"""``budget status [--json]`` and ``budget costs [--json] [profile flags]``.

It lives in ``executions``: the costs it reports are measured from the model calls, and the worst
case of the next execution is the pipeline's own (``executions.costs.measured``).

Exit codes: 0 done, 2 bad usage or configuration (unknown or unpriced model, bad limit).
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from budget.costs import SEED_PROFILE, StepProfile, cost_table, fits
from budget.model_calendar import configured_models, configured_retirements, vendor_shutdown_warnings
from budget.money import MoneyError, format_usd, to_nanos
from budget.periods import LimitError, current_period
from budget.pricing import PricingError
from budget.reconciliation import summary_lines
from budget.selectors import PeriodSummary, period_summary
from executions.costs.measured import (
    HeldPerCharged,
    MeasuredProfile,
    NextExecution,
    held_per_charged,
    measured_profile,
    next_execution,
)

BAR_WIDTH = 20


def spend_bar(spent: int, limit: int, width: int = BAR_WIDTH) -> str:
    filled = min(width, spent * width // limit) if limit else width
    return "█" * filled + "░" * (width - filled)


def tokens(n: int) -> str:
    return f"{n:,}"


class Command(BaseCommand):
    help = (
        "The month's budget: `status` (spend, pace, models) or `costs` (what an execution costs: the seed "
        "profile, the executions that ran, and what the next one will reserve)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{status,costs}")
        status = actions.add_parser("status", help="The open period's figures.")
        status.add_argument("--json", action="store_true", help="A stable JSON object instead of text.")
        costs = actions.add_parser(
            "costs",
            help="Cost table for a token profile (default: the seed's), the measured profile of the "
            "executions that ran, and the next execution's worst case.",
        )
        costs.add_argument("--json", action="store_true", help="A stable JSON object instead of text.")
        costs.add_argument("--limit", help="Monthly limit in USD (default: the open period's).")
        for step in SEED_PROFILE:
            prefix = f"--{step.step}"
            costs.add_argument(
                f"{prefix}-model",
                metavar="MODEL",
                help="any model in the catalog (default: the step's configured model; a retired one "
                "is priced as the successor that runs instead)",
            )
            costs.add_argument(f"{prefix}-in", type=int, default=step.input_tokens, metavar="TOKENS")
            costs.add_argument(f"{prefix}-out", type=int, default=step.output_tokens, metavar="TOKENS")
            costs.add_argument(f"{prefix}-max-tokens", type=int, default=step.max_tokens, metavar="TOKENS")

    def handle(self, *args, action, **options):
        try:
            if action == "status":
                self.status(as_json=options["json"])
            else:
                self.costs(options)
        except (PricingError, MoneyError, LimitError) as exc:
            raise CommandError(str(exc), returncode=2) from None

    # --- status ---------------------------------------------------------------------------

    def status(self, *, as_json: bool):
        summary = period_summary()
        warnings = self.warnings(summary)
        if as_json:
            self.stdout.write(json.dumps({**summary.as_json(), "warnings": warnings}, indent=2))
            return
        p = summary.period
        first, last = timezone.localtime(p.starts_at), timezone.localtime(p.ends_at)
        w = self.stdout.write
        w(
            f"Budget {p.month:%Y-%m}  ({first:%b %d %H:%M} – {last:%b %d %H:%M} {timezone.get_current_timezone_name()})"
        )
        w(
            f"  Spent       {format_usd(p.spent_nanos, places=2)} of {format_usd(p.limit_nanos, places=2)}"
            f"  {spend_bar(p.spent_nanos, p.limit_nanos)} {summary.percent}%"
        )
        w(f"  Reserved    {format_usd(p.reserved_nanos, places=2)}")
        exposed = (
            f" (and {format_usd(p.exposed_nanos, places=4)} kept free until their analyses are billed)"
            if p.exposed_nanos
            else ""
        )
        w(
            f"  Held now    {format_usd(summary.running_held_nanos, places=4)} by "
            f"{summary.running_holds} running execution(s){exposed}"
        )
        if summary.batch_holds:
            w(
                f"  In batches  {summary.batch_holds} execution(s) waiting in vendor batches,"
                f" {format_usd(summary.batch_held_nanos, places=4)} of that held for them"
            )
        w(f"  Remaining   {format_usd(p.remaining_nanos, places=2)}")
        per_pr = summary.cost_per_pr_nanos
        w(
            f"  Executions  {p.executions_count} ({p.succeeded_count} succeeded, {p.failed_count} failed)"
            f"  ·  PRs {p.prs_count}" + (f"  ·  {format_usd(per_pr, places=4)} per PR" if per_pr else "")
        )
        per_merged = summary.cost_per_merged_pr_nanos
        w(
            f"  Outcomes    {p.merged_prs_count} merged, {p.closed_prs_count} closed unmerged, {p.open_prs_count} open"
            + (f"  ·  {format_usd(per_merged)} per merged PR" if per_merged is not None else "")
        )
        if p.applied_first_try_count or p.applied_after_retry_count or p.edit_failures_count:
            w(
                f"  Edits       {p.applied_first_try_count} applied on the first try, "
                f"{p.applied_after_retry_count} after a retry, {p.edit_failures_count} never applied"
            )
        w(
            f"  Revisions   {p.revisions_count} follow-up commit(s), "
            f"{p.merged_after_revision_count} PR(s) merged after one"
        )
        if summary.execution_costs:
            cost = summary.execution_costs.cost
            w(
                f"  Measured    {format_usd(cost.mean)} per execution, p90 {format_usd(cost.p90)}"
                f" ({self.sample(summary.execution_costs)})"
            )
        if summary.reconciliation:
            first, *rest = summary_lines(summary.reconciliation)
            w(f"  Reconciled  {first}")
            for line in rest:
                w(f"              {line}")
        reached = ", ".join(
            f"{format_usd(m.threshold_nanos, places=2)} on {timezone.localtime(m.reached_at):%Y-%m-%d}"
            for m in summary.milestones
        )
        nxt = summary.next_milestone_nanos
        w(
            f"  Milestones  {reached or 'none yet'}"
            + (f"  ·  next {format_usd(nxt, places=2)}" if nxt is not None else "")
        )
        w(
            f"  Pace        {summary.pace} (even-spend line {format_usd(summary.even_spend_nanos, places=2)} by now)"
            f"  ·  projected month end {format_usd(summary.projected_spend_nanos, places=2)}"
        )
        if summary.models:
            w("  Models")
            for m in summary.models:
                cached = m.cache_read_tokens + m.cache_write_5m_tokens + m.cache_write_1h_tokens
                w(
                    f"    {m.model_name:<22} {m.calls:>6} calls  {tokens(m.input_tokens):>12} in"
                    f"  {tokens(m.output_tokens):>12} out  {tokens(cached):>10} cache  {format_usd(m.cost_nanos, places=4)}"
                )
        if summary.repositories:
            w("  Repositories")
            for r in summary.repositories:
                per_merged = r["cost_per_merged_pr"]
                w(
                    f"    {r['repository']:<30} {format_usd(to_nanos(r['spent']), places=4):>10}"
                    f"  {r['executions']:>5} executions  {r['prs']:>4} PRs  {r['merged_prs']:>4} merged"
                    + (
                        f"  {format_usd(to_nanos(per_merged))} per merged PR"
                        if per_merged is not None
                        else ""
                    )
                )
        if p.exhausted_at:
            w(self.style.WARNING("  Exhausted: the next execution does not fit; runs resume next month."))
        for warning in warnings:
            w(self.style.WARNING(f"  Warning: {warning}"))

    @staticmethod
    def sample(costs) -> str:
        n = costs.cost.count
        where = "this month" if costs.this_month else "before this month (none finished this month yet)"
        return f"the last {n} finished execution{'s' if n != 1 else ''} {where}"

    def warnings(self, summary: PeriodSummary) -> list[str]:
        """Each configured model retiring within MODEL_RETIREMENT_NOTICE_DAYS (or retired): its
        successor and what one execution costs before and after the switch; and each shutdown
        date a vendor publishes for one (``check_models``) that the catalog does not cover yet."""
        today = timezone.localdate()
        notice = settings.MODEL_RETIREMENT_NOTICE_DAYS
        retiring = configured_retirements(on=today, within_days=notice)
        return (
            list(summary.warnings)
            + [retirement.warning(today=today) for retirement in retiring]
            + vendor_shutdown_warnings(on=today, within_days=notice)
        )

    # --- costs ----------------------------------------------------------------------------

    def costs(self, options):
        configured = configured_models()
        profile = tuple(
            StepProfile(
                seed.step,
                options[f"{seed.step}_model"] or configured.get(seed.step) or seed.model,
                self.count(options, f"{seed.step}_in"),
                self.count(options, f"{seed.step}_out"),
                self.count(options, f"{seed.step}_max_tokens"),
            )
            for seed in SEED_PROFILE
        )
        period = current_period()
        limit = (
            to_nanos(options["limit"], what="--limit") if options["limit"] is not None else period.limit_nanos
        )
        table = cost_table(profile, limit_nanos=limit, month=period.month, on=timezone.localdate())
        measured, following = measured_profile(period), next_execution()
        held = held_per_charged(period)
        if options["json"]:
            data = {
                **table.as_json(),
                "measured": self.measured_json(measured, limit, period.month),
                "held_per_charged": held.as_json() if held else None,
                "next_execution": self.next_json(following, limit, period.month),
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.seed_table(table, limit, period)
        self.measured(measured, limit, period.month)
        self.held(held)
        self.next(following, limit, period.month)

    def held(self, held: HeldPerCharged | None) -> None:
        w = self.stdout.write
        w("")
        if held is None:
            w("Held ÷ charged: no execution of this month has finished with a charge yet.")
            return
        w(
            f"Held ÷ charged: {held.ratio.mean / 100:.2f}× mean, {held.ratio.p90 / 100:.2f}× p90 over "
            f"{held.ratio.count} finished execution(s) of this month (what each held when it started, "
            f"over what it was charged)"
        )

    def seed_table(self, table, limit: int, period) -> None:
        w = self.stdout.write
        w(
            f"Seed profile: one execution at today's prices (month {period.month:%Y-%m}, limit {format_usd(limit, places=2)})"
        )
        for s in table.steps:
            p = s.profile
            w(
                f"  {p.step:<9} {s.model:<20} {tokens(p.input_tokens):>7} in {tokens(p.output_tokens):>7} out"
                f"  {format_usd(s.cost_nanos):>12}   worst case (max {tokens(p.max_tokens)} out) {format_usd(s.worst_case_nanos)}"
            )
        w(
            f"  {'total':<9} {'':<20} {'':>26}  {format_usd(table.execution_nanos):>12}   worst case {format_usd(table.worst_case_execution_nanos)}"
        )
        for s in table.steps:
            batch = (
                f"batch {format_usd(s.batch_cost_nanos)}, worst case {format_usd(s.batch_worst_case_nanos)}"
            )
            w(
                f"  {s.profile.step:<9} {batch}"
                + (f" (standard price: {s.batch_refused})" if s.batch_refused else "")
            )
        w("")
        self.fits_header()
        for label, nanos in (
            ("real", table.execution_nanos),
            ("worst case", table.worst_case_execution_nanos),
            ("batch real", table.batch_execution_nanos),
            ("batch worst", table.batch_worst_case_execution_nanos),
        ):
            self.fits_row(label, table.fits(nanos))
        w(
            "  The seed's worst case is one call per step on the seed's input; an execution reserves its real"
            " context and every coder try (next execution, below)."
        )
        for s in table.steps:
            if s.replaced_note:
                w(self.style.WARNING(f"  Note: {s.replaced_note} ({s.profile.step})."))

    def fits_header(self) -> None:
        self.stdout.write(
            f"  {'':<16} {'per execution':>14} {'per month':>10} {'per day':>8} {'every (min)':>12}"
        )

    def fits_row(self, label: str, f: dict) -> None:
        self.stdout.write(
            f"  {label:<16} {'$' + f['per_execution']:>14} {f['executions_per_month']:>10}"
            f" {f['executions_per_day']:>8} {f['minutes_between_runs'] or '-':>12}"
        )

    @staticmethod
    def measured_json(measured: MeasuredProfile | None, limit: int, month) -> dict | None:
        if measured is None:
            return None
        return {
            **measured.as_json(),
            "standard": fits(measured.standard.mean, limit_nanos=limit, month=month),
            "batch": fits(measured.batch.mean, limit_nanos=limit, month=month),
        }

    @staticmethod
    def next_json(following: NextExecution, limit: int, month) -> dict:
        data = following.as_json()
        if following.worst_case is not None:
            data["fits"] = fits(following.worst_case.nanos, limit_nanos=limit, month=month)
        return data

    def measured(self, measured: MeasuredProfile | None, limit: int, month) -> None:
        w = self.stdout.write
        w("")
        if measured is None:
            w("Measured: no execution has finished yet; the seed profile above is all there is to go on.")
            return
        w(f"Measured: {self.sample(measured.costs)} (mean / p90 per execution)")
        w(
            f"  {'step':<9} {'calls':>5} {'input':>17} {'cached':>17} {'cache write':>17} {'reasoning':>17} {'output':>17} {'cost':>27}"
        )
        for m in measured.steps:
            cells = [f"{tokens(t.mean)} / {tokens(t.p90)}" for t in m.tokens.values()]
            w(
                f"  {m.step:<9} {m.calls:>5} " + " ".join(f"{c:>17}" for c in cells)
                + f" {format_usd(m.cost.mean) + ' / ' + format_usd(m.cost.p90):>27}  {', '.join(m.models)}"
            )  # fmt: skip
        w(
            f"  {'execution':<9} {'':>5} {'':>89} {format_usd(measured.costs.cost.mean) + ' / ' + format_usd(measured.costs.cost.p90):>27}"
        )
        self.fits_header()
        self.fits_row("measured", fits(measured.standard.mean, limit_nanos=limit, month=month))
        self.fits_row("measured batch", fits(measured.batch.mean, limit_nanos=limit, month=month))
        for note in measured.batch_refused:
            w(self.style.WARNING(f"  Batch at standard price: {note}"))

    def next(self, following: NextExecution, limit: int, month) -> None:
        w = self.stdout.write
        w("")
        if following.worst_case is None:
            task = f" (task {following.task.pk})" if following.task else ""
            w(f"Next execution{task}: worst case unknown: {following.unavailable}")
            return
        worst, task = following.worst_case, following.task
        mode = " in batch mode" if following.batch else ""
        w(f"Next execution{mode}: task {task.pk} ({task.title[:60]}) reserves {format_usd(worst.nanos)}")
        for bound in (worst.analysis, worst.codegen):
            tries = f" × {bound.tries} tr{'y' if bound.tries == 1 else 'ies'}"
            w(
                f"  {bound.step:<9} {bound.model:<20} ≤ {tokens(bound.input_tokens)} in, ≤ {tokens(bound.output_tokens)} out"
                f"{tries}{' (batch price)' if bound.batch else ''}  {format_usd(bound.nanos)}"
            )
        self.fits_header()
        self.fits_row("its worst case", fits(worst.nanos, limit_nanos=limit, month=month))

    @staticmethod
    def count(options, name: str) -> int:
        value = options[name]
        if value < 0:
            flag = "--" + name.replace("_", "-")
            raise CommandError(f"{flag} must be a whole number of tokens ≥ 0, not {value}", returncode=2)
        return value
