"""The two steps of an execution: which model each uses (``StepConfig``, edited in the admin),
and the exact requests they send.

Model ids resolve through ``budget.catalog``: a retired model becomes its priced successor (said
once, as a ``model_switched`` event) and a model without a price is refused before any request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.conf import settings

from budget import catalog
from budget.catalog import ResolvedModel
from budget.pricing import lookup_model, worst_case_nanos
from executions.analysis import analyst
from executions.changes import coder
from executions.changes.validation import MAX_FILE_BYTES
from executions.context import excerpts
from executions.context import lookups as context_lookups
from executions.context.repomap import (
    BYTES_PER_TOKEN,
    FILE_BLOCK_OVERHEAD,
    TaskContext,
    file_block,
    named_identifiers,
    quoted,
)
from executions.errors import ChangeRejected, ConfigurationError
from executions.models import ModelCall, StepConfig, Task
from executions.providers.base import CompletionRequest, Lookup
from executions.repositories.paths import MAX_PATH_BYTES
from notifications import events

ANALYSIS = ModelCall.Step.ANALYSIS
CODEGEN = ModelCall.Step.CODEGEN
VENDOR_OF_STEP = {ANALYSIS: "anthropic", CODEGEN: "openai"}
# Sent only to models that accept sampling parameters (Sonnet 5.x rejects them), and only by
# providers whose SDK takes them (the anthropic SDK no longer does: analysis sends none).
TEMPERATURE = {ANALYSIS: 0.2, CODEGEN: 0.0}

# The plan is forwarded to the coder cut to this many bytes per analysis token. A byte-level BPE
# token is at least one byte, so the cut plan's bytes bound its tokens in *any* tokenizer; the
# analyst's own token count would not (its tokens may be longer than the coder's).
PLAN_BYTES_PER_TOKEN = 8
# A second try sends the previous answer back, cut to ``BYTES_PER_TOKEN`` (what code averages in
# both vendors' tokenizers) per output token of the step and to at most ``MAX_ANSWER_BYTES``: its
# size is then known before the first call. An answer longer than that is cut, with a note.
MAX_ANSWER_BYTES = 32_000
ANSWER_CUT = "\n... (the rest of this answer is not repeated here)"
# A named file too large to show whole is shown as its excerpt when at least this much room is left.
MIN_EXCERPT_BYTES = 1_000

# The prompts sit beside the parsers of their answers: ``executions.analysis.analyst`` and ``executions.changes.coder``.
ANALYSIS_INSTRUCTIONS = analyst.INSTRUCTIONS
CODEGEN_INSTRUCTIONS = coder.INSTRUCTIONS
CHANGE_SCHEMA = coder.CHANGE_SCHEMA
CODER_FILES_HEADER = "Current content of the files the plan named:\n\n"
# ``path``: quoted (``repomap.quoted``), as every file name in the prompts.
NOT_SHOWN_LINE = "- {path} ({size:,} bytes: not shown, over the context limit; edit it only if you must)\n"


@dataclass(frozen=True)
class Step:
    name: str
    resolved: ResolvedModel
    max_tokens: int
    batch: bool = False  # through the vendor's batch API, at its batch price
    effort: str = ""  # the step's configured reasoning effort ("": the vendor's default)

    @property
    def model_name(self) -> str:
        return self.resolved.model.name

    @property
    def reasoning_effort(self) -> str | None:
        """What to send as ``reasoning_effort``: only to a reasoning model, only when configured."""
        return (self.effort or None) if self.resolved.model.reasoning else None

    @property
    def temperature(self) -> float | None:
        model = self.resolved.model
        if not model.accepts_sampling_params:
            return None
        if model.reasoning and self.reasoning_effort != StepConfig.ReasoningEffort.NONE:
            return None  # a reasoning model takes sampling parameters only when it does not reason
        return TEMPERATURE[self.name]


def configured_steps(*, on: dt.date) -> tuple[Step, Step]:
    """The (analysis, codegen) steps for ``on``. Raises ``ConfigurationError`` or ``PricingError``."""
    configs = _step_configs()
    # One query for the usual case; a retired, unpriced or unknown model takes ``resolve``'s path.
    current = catalog.resolve_current([config.model_name for config in configs.values()], on=on)
    return tuple(_step(name, configs.get(name), on, current) for name in (ANALYSIS, CODEGEN))


def batch_mode() -> bool:
    """Whether a step runs through a batch API: then ``run_batches`` takes the pending tasks."""
    return any(settings.LLM_BATCH if c.batch is None else c.batch for c in _step_configs().values())


def configured_model_names() -> dict[str, str]:
    """{step: configured model id}, read afresh (``budget.model_calendar`` asks through this)."""
    return dict(StepConfig.objects.values_list("step", "model_name"))


def _step_configs() -> dict[str, StepConfig]:
    """Each step's configuration, read afresh: an edit in the admin applies to the next execution."""
    return {config.step: config for config in StepConfig.objects.all()}


def _step(name: str, config: StepConfig | None, on: dt.date, current: dict[str, ResolvedModel]) -> Step:
    if config is None:
        raise ConfigurationError(
            f"The {name} step has no model configured: add it under Step configs in the admin."
        )
    resolved = current.get(config.model_name) or catalog.resolve(config.model_name, on=on)
    vendor = VENDOR_OF_STEP[name]
    if resolved.model.provider != vendor:
        raise ConfigurationError(
            f"The {name} step needs a model from {vendor}, but {resolved.model.name} is "
            f"{resolved.model.provider}'s: choose another in the admin."
        )
    if resolved.replaced:
        events.model_switched(lookup_model(resolved.requested), resolved.model)
    batch = settings.LLM_BATCH if config.batch is None else config.batch
    return Step(
        name=name,
        resolved=resolved,
        max_tokens=config.max_tokens,
        batch=batch,
        effort=config.reasoning_effort,
    )


def task_text(task: Task) -> str:
    """The task's words, for ranking the repository's files (never sent as prose: ``task_block``)."""
    description = task.description.strip()
    return f"Task: {task.title.strip()}" + (f"\n\n{description}" if description else "")


TASK_HEADER = "The task, as written in the backlog (JSON):\n"


def task_block(task: Task) -> str:
    """The task as both prompts carry it: data, a JSON object whose strings are quoted."""
    return TASK_HEADER + quoted({"title": task.title.strip(), "description": task.description.strip()})


def analysis_request(
    step: Step, task: Task, overview: str, context: TaskContext, *, revision: str = "", lookups: int = 0
) -> CompletionRequest:
    """Instructions and the commit's overview first (the cached, commit-stable part), then the
    task (and, for a revision, its feedback and the pull request's diff: ``analyst.revision_part``)
    with its ranked map and files; the answer comes through the forced ``submit_plan`` call.
    ``lookups`` > 0: the analyst may first call ``show`` (``lookup_request`` is the next round)."""
    instructions = ANALYSIS_INSTRUCTIONS
    if lookups:
        instructions += analyst.LOOKUP_INSTRUCTIONS.format(items=context_lookups.MAX_ITEMS)
    return CompletionRequest(
        model=step.model_name,
        system=f"{instructions}\n{overview}",
        user="\n\n".join(
            part for part in (task_block(task), revision.rstrip("\n"), context.as_prompt()) if part
        ),
        max_tokens=step.max_tokens,
        temperature=step.temperature,
        reasoning_effort=step.reasoning_effort,
        tool=analyst.PLAN_TOOL,
        lookup_tool=analyst.SHOW_TOOL if lookups else None,
    )


MAX_CALL_ID_CHARS = 100  # a vendor's tool call id, sent back with its answer (Anthropic's: ~30)


def lookup_request(
    request: CompletionRequest, call_id: str, items: list[str], answer: str
) -> CompletionRequest:
    """The analysis request's next round: the same request (its prefix read from the vendor's
    cache), then the ``show`` call (``items``, as kept) and what it was shown (``answer``, at most
    ``lookups.MAX_ANSWER_BYTES``). Its size is bounded before the first call (``lookup_at_caps``)."""
    if len(call_id) > MAX_CALL_ID_CHARS:
        raise ChangeRejected("The analysis called show with a call id longer than any vendor sends")
    asked = {"items": [item[: context_lookups.MAX_ITEM_CHARS] for item in items[: context_lookups.MAX_ITEMS]]}
    answer = cut_plan(answer, context_lookups.MAX_ANSWER_BYTES)
    return replace(request, lookups=(*request.lookups, Lookup(call_id, asked, answer)))


def lookup_at_caps(request: CompletionRequest, rounds: int) -> CompletionRequest:
    """``request`` after ``rounds`` look-ups as long as they may be: the largest a later round sends.
    The names asked for and the call id are counted in characters, so their stand-ins are the
    longest character there is: four bytes of UTF-8, twelve once JSON escapes it."""
    widest = "\U0010ffff"
    items = [widest * context_lookups.MAX_ITEM_CHARS] * context_lookups.MAX_ITEMS
    for _ in range(rounds):
        request = lookup_request(
            request, widest * MAX_CALL_ID_CHARS, items, "x" * context_lookups.MAX_ANSWER_BYTES
        )
    return replace(request, at_caps=True)


def plan_byte_cap(analysis: Step) -> int:
    return analysis.max_tokens * PLAN_BYTES_PER_TOKEN


def cut_plan(plan: str, cap: int) -> str:
    """The plan as forwarded to the coder: at most ``cap`` UTF-8 bytes, cut on a character."""
    encoded = plan.encode("utf-8")
    return plan if len(encoded) <= cap else encoded[:cap].decode("utf-8", errors="ignore")


def files_to_read(sizes: dict[str, int]) -> list[str]:
    """The files the plan named (``sizes``: each one's size in the index, read before any file is,
    in the plan's order) that can be shown, whole or as an excerpt: every one a change may touch
    (``MAX_FILE_BYTES``). No other file is read, however large: a file the product may not change
    is not shown either."""
    return [path for path, size in sizes.items() if size <= MAX_FILE_BYTES]


def codegen_request(
    step: Step,
    task: Task,
    overview: str,
    plan: str,
    files: dict[str, str | None],
    sizes: dict[str, int] | None = None,
    definitions: Sequence[str] = (),
) -> CompletionRequest:
    """The coder's request: the plan and the current content of the files it named, in its order,
    within ``CONTEXT_FILE_BYTES`` (``shown_files``). ``sizes``: every named file's size in bytes,
    in the plan's order; ``files``: the content of those read (``files_to_read``; ``None``: not a
    text file); ``definitions``: the plan's ``file::Qualified.name`` list, shown whole in excerpts.
    Before the analysis, ``plan=""`` and no files give the part whose size is known (see
    ``codegen_files_bound``)."""
    sizes = sizes if sizes is not None else {path: 0 for path in files}
    identifiers = named_identifiers(task_text(task))
    listing = ""
    if sizes:
        shown, skipped = [], []
        for path, text in shown_files(files, sizes, definitions=definitions, identifiers=identifiers).items():
            if text is None:
                skipped.append(NOT_SHOWN_LINE.format(path=quoted(path), size=sizes[path]))
            else:
                shown.append(file_block(path, text))
        listing = CODER_FILES_HEADER + "".join(shown) + "".join(skipped)
    return CompletionRequest(
        model=step.model_name,
        system=f"{CODEGEN_INSTRUCTIONS}\n{overview}",
        user=f"{task_block(task)}\n\nImplementation plan:\n{plan}\n\n{listing}",
        max_tokens=step.max_tokens,
        schema=CHANGE_SCHEMA,
        temperature=step.temperature,
        reasoning_effort=step.reasoning_effort,
    )


def shown_files(
    files: dict[str, str | None],
    sizes: dict[str, int],
    *,
    definitions: Sequence[str] = (),
    identifiers: set[str] = frozenset(),
) -> dict[str, str | None]:
    """What the coder is shown of each named file, in the plan's order (``None``: not shown), all
    within ``CONTEXT_FILE_BYTES``: a file whole when it fits what is left, else its excerpt
    (``excerpts.excerpt``: the outline, the named definitions, those holding the task's
    identifiers) in its share of what is left, which keeps for each later file what it needs, up
    to an even share."""
    room = settings.CONTEXT_FILE_BYTES
    need = {path: len(text.encode("utf-8")) for path, text in files.items() if text is not None}
    shown: dict[str, str | None] = {}
    for n, path in enumerate(sizes):
        text, later = files.get(path), [p for p in list(sizes)[n + 1 :] if p in need]
        if text is None:
            shown[path] = None
            continue
        if need[path] <= room:
            shown[path] = text
            room -= need[path]
            continue
        share = room - sum(min(need[p], room // (len(later) + 1)) for p in later)
        names = excerpts.names_for(path, definitions)
        part = (
            excerpts.excerpt(path, text, budget=share, names=names, identifiers=identifiers)
            if share >= MIN_EXCERPT_BYTES
            else ""
        )
        shown[path] = part or None
        room -= len(part.encode("utf-8"))
    return shown


def codegen_files_bound() -> int:
    """What the files part of the coder's request can add, in bytes (so in tokens, at most): the
    content cap (whole files and excerpts alike), plus each named file's wrapper or not-shown line
    with the longest quoted path the plan may name (``analyst.plan_from``)."""
    per_file = max(FILE_BLOCK_OVERHEAD, len(NOT_SHOWN_LINE.format(path="", size=10**12))) + MAX_PATH_BYTES
    return len(CODER_FILES_HEADER) + settings.CONTEXT_FILE_BYTES + analyst.MAX_PLAN_FILES * per_file


def answer_byte_cap(step: Step) -> int:
    """The most of a previous answer a second try sends back, in bytes."""
    return min(max(step.max_tokens * BYTES_PER_TOKEN, 1_024), MAX_ANSWER_BYTES)


def reflection_request(
    step: Step, prompt: CompletionRequest, answer: str, failures: str
) -> CompletionRequest:
    """A further try of the coder: the first try's request (``prompt``) as it was, then the
    previous answer (cut to ``answer_byte_cap``) and what was wrong with it (``failures``, from
    ``coder.failures_message``, at most ``MAX_FAILURES_BYTES``). Built the same way at those caps,
    it gives the reservation its bound for every further try (``pipeline.codegen_bound``)."""
    cap = answer_byte_cap(step)
    if len(answer.encode("utf-8")) > cap:
        answer = cut_plan(answer, cap - len(ANSWER_CUT.encode("utf-8"))) + ANSWER_CUT
    return replace(
        prompt,
        turns=(answer or "(an empty answer)", cut_plan(failures, coder.MAX_FAILURES_BYTES)),
    )


def reflection_at_caps(step: Step, prompt: CompletionRequest) -> CompletionRequest:
    """``reflection_request`` with an answer and a failure message as long as they may be: the
    largest request a further try can send after ``prompt``."""
    request = reflection_request(step, prompt, "x" * answer_byte_cap(step), "x" * coder.MAX_FAILURES_BYTES)
    return replace(request, at_caps=True)


def try_nanos(step: Step, input_tokens: int) -> int:
    """The most one call of ``step`` can cost with at most ``input_tokens`` of input."""
    return worst_case_nanos(
        step.resolved.price,
        max_input_tokens=input_tokens,
        max_output_tokens=step.max_tokens,
        batch=step.batch,
        hour_cache=False,  # the requests mark 5-minute breakpoints only (providers.anthropic.params_for)
    )
