"""The forms an execution can run in, fullest first: how it uses the month's last dollars.

The full form makes every coder try (1 + ``CODEGEN_REFLECTIONS``), gives the analysis its
configured ``max_tokens`` and shows the whole context. When the month's unspent money cannot hold
that, the pipeline tries smaller forms, one change at a time, before it calls the month
exhausted: fewer coder tries (down to one: no asking again), then no look-up round before the
plan (``ANALYSIS_LOOKUPS``: each is one more analysis call), then a lower analysis output cap
(halved, down to ``ANALYSIS_MIN_MAX_TOKENS``), then less context shown to the analyst (the map
and the files halved, down to ``MIN_CONTEXT_SHARE``). The execution records the form it ran in
(``Execution.reduced``), and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.conf import settings

# The least context a reduced form shows the analyst: 1/8 of CONTEXT_MAP_TOKENS and CONTEXT_FILE_BYTES.
MIN_CONTEXT_SHARE = 8


@dataclass(frozen=True)
class Form:
    reflections: int  # further coder tries after the first
    analysis_max_tokens: int
    context_share: int = 1  # the context shown is 1/context_share of the configured one
    lookups: int = 0  # look-up rounds the analyst may make before its plan

    def map_tokens(self) -> int:
        return settings.CONTEXT_MAP_TOKENS // self.context_share

    def file_bytes(self) -> int:
        return settings.CONTEXT_FILE_BYTES // self.context_share

    def changes_from(self, full: Form) -> str:
        """What this form gives up beside ``full``, in words ("" for the full form itself)."""
        changes = []
        if self.reflections != full.reflections:
            changes.append(f"{1 + self.reflections} coder tries instead of {1 + full.reflections}")
        if self.lookups != full.lookups:
            changes.append(f"{self.lookups} look-up rounds instead of {full.lookups}")
        if self.analysis_max_tokens != full.analysis_max_tokens:
            changes.append(
                f"analysis output cap {self.analysis_max_tokens:,} tokens instead of {full.analysis_max_tokens:,}"
            )
        if self.context_share != 1:
            changes.append(f"1/{self.context_share} of the context shown to the analyst")
        return "; ".join(changes)


def full_form(analysis_max_tokens: int, *, lookups: int) -> Form:
    return Form(
        reflections=max(settings.CODEGEN_REFLECTIONS, 0),
        analysis_max_tokens=analysis_max_tokens,
        lookups=lookups,
    )


def smaller_forms(full: Form) -> Iterator[Form]:
    """Every reduced form of ``full``, each smaller than the one before it."""
    form = full
    while form.reflections > 0:
        form = replace(form, reflections=form.reflections - 1)
        yield form
    if form.lookups > 0:
        form = replace(form, lookups=0)
        yield form
    floor = min(settings.ANALYSIS_MIN_MAX_TOKENS, full.analysis_max_tokens)
    while form.analysis_max_tokens > floor:
        form = replace(form, analysis_max_tokens=max(form.analysis_max_tokens // 2, floor))
        yield form
    while form.context_share < MIN_CONTEXT_SHARE:
        form = replace(form, context_share=form.context_share * 2)
        yield form
