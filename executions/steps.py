"""The two steps of an execution: which model each uses (``StepConfig``, edited in the admin),
and the exact requests they send.

Model ids resolve through ``budget.catalog``: a retired model becomes its priced successor (said
once, as a ``model_switched`` event) and a model without a price is refused before any request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from budget import catalog
from budget.catalog import ResolvedModel
from budget.pricing import lookup_model
from executions.errors import ConfigurationError
from executions.gateways.base import RepositoryContext
from executions.models import ModelCall, StepConfig, Task
from executions.providers.base import CompletionRequest
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

ANALYSIS_INSTRUCTIONS = """\
You are a senior engineer planning a small change to a repository. Read the task and the
repository context, then write a short, concrete implementation plan that another engineer can
follow without asking questions: which files to add or change (paths relative to the repository
root), what each change is, and how a reviewer can check it. Keep the change small and focused on
the task. Do not write the full code; short snippets are fine where they remove ambiguity. Never
touch .git/ or CI workflow files. Answer in plain text, at most a page.
"""

CODEGEN_INSTRUCTIONS = """\
You are a careful engineer implementing a reviewed plan in a repository. Return the complete new
content of every file you add or change, following the plan exactly. Paths are relative to the
repository root, use forward slashes, and never point into .git/ or .github/workflows/. Change at
most 20 files, each under 200 KB of UTF-8 text. Write a one-paragraph summary of the change for
the pull request. Answer only with JSON matching the given schema.
"""

CHANGE_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "files"],
    "additionalProperties": False,
}


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
        name=name, resolved=resolved, max_tokens=config.max_tokens, batch=batch, effort=config.reasoning_effort
    )


def task_text(task: Task) -> str:
    description = task.description.strip()
    return f"Task: {task.title.strip()}" + (f"\n\n{description}" if description else "")


def analysis_request(step: Step, task: Task, context: RepositoryContext) -> CompletionRequest:
    return CompletionRequest(
        model=step.model_name,
        system=f"{ANALYSIS_INSTRUCTIONS}\n{context.as_prompt()}",
        user=task_text(task),
        max_tokens=step.max_tokens,
        temperature=step.temperature,
        reasoning_effort=step.reasoning_effort,
    )


def plan_byte_cap(analysis: Step) -> int:
    return analysis.max_tokens * PLAN_BYTES_PER_TOKEN


def cut_plan(plan: str, cap: int) -> str:
    """The plan as forwarded to the coder: at most ``cap`` UTF-8 bytes, cut on a character."""
    encoded = plan.encode("utf-8")
    return plan if len(encoded) <= cap else encoded[:cap].decode("utf-8", errors="ignore")


def codegen_request(step: Step, task: Task, context: RepositoryContext, plan: str) -> CompletionRequest:
    """The coder's request. Before the analysis, ``plan=""`` gives the part whose size is known."""
    return CompletionRequest(
        model=step.model_name,
        system=f"{CODEGEN_INSTRUCTIONS}\n{context.as_prompt()}",
        user=f"{task_text(task)}\n\nImplementation plan:\n{plan}",
        max_tokens=step.max_tokens,
        schema=CHANGE_SCHEMA,
        temperature=step.temperature,
        reasoning_effort=step.reasoning_effort,
    )
