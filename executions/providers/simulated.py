"""Offline stand-ins for both vendors (``ORCHESTRATOR_MODE=simulated``): deterministic, no network.

The analyst calls ``submit_plan`` with a short plan from the task, naming the best-ranked file it
was shown; the coder answers as the live coder must: a small real edit to the first file it was
shown whole (a line added after its last unique line; an excerpt of a large file is not edited)
and a new note under ``docs/changes/``. Its answer applies: it never needs a second try (its
answers are the same every time, so a second try would only repeat a miss). Usage is the seed's token
profile (``budget.costs.SEED_PROFILE``) unless a usage is given, with output capped at the
request's ``max_tokens`` as a real model's is. ``SIMULATED_LATENCY_SECONDS`` makes each call take
that long (to watch progress, or to stop a worker mid-execution).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify

from budget.costs import SEED_PROFILE
from budget.pricing import Usage
from executions.context.excerpts import is_excerpt
from executions.providers.base import BatchItem, BatchState, Completion, CompletionRequest, Providers

SEED_USAGE = {
    profile.step: Usage(input_tokens=profile.input_tokens, output_tokens=profile.output_tokens)
    for profile in SEED_PROFILE
}


def _task_of(request: CompletionRequest) -> tuple[str, str]:
    """The title and description of the task the pipeline quoted at the top of the user message."""
    start = request.user.find("{")
    try:
        task, _end = json.JSONDecoder().raw_decode(request.user, start) if start >= 0 else ({}, 0)
    except ValueError:
        task = {}
    title = str(task.get("title") or "").strip() or "Untitled task"
    return title, str(task.get("description") or "").strip()


_FILE = re.compile(r'<file path=("(?:[^"\\\n]|\\.)*")>\n(.*?)\n</file>\n', re.S)
_COMMENT = {
    ".py": "# ",
    ".sh": "# ",
    ".yml": "# ",
    ".yaml": "# ",
    ".toml": "# ",
    ".rb": "# ",
    ".js": "// ",
    ".go": "// ",
    ".ts": "// ",
    ".md": "",
    ".txt": "",
    ".rst": "",
}


def _shown_files(request: CompletionRequest) -> list[tuple[str, str]]:
    """The files whose content the request shows (path, content), in order."""
    return [(json.loads(path), content) for path, content in _FILE.findall(request.user)]


def _whole_files(request: CompletionRequest) -> list[tuple[str, str]]:
    """The files the request shows whole (not as an excerpt): the stand-in coder edits only those."""
    return [(path, content) for path, content in _shown_files(request) if not is_excerpt(content)]


def _edit_of(path: str, content: str, title: str, *, addition: str = "") -> dict | None:
    """A one-line addition (or ``addition``) after the file's last line that occurs once (at any
    indentation, as the edit rules count), or None when there is none."""
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    if suffix not in _COMMENT:
        return None
    lines = content.splitlines()
    stripped = [line.strip() for line in lines]
    for line in reversed(lines):
        if line.strip() and stripped.count(line.strip()) == 1:
            note = addition or f"{_COMMENT[suffix]}Simulated change for: {title}"
            return {
                "path": path,
                "action": "edit",
                "content": "",
                "edits": [{"search": line, "replace": f"{line}\n{note}"}],
            }
    return None


class SimulatedProvider:
    simulated = True

    def __init__(self, vendor: str, step: str, *, usage: Usage | None = None):
        self.vendor = vendor
        self.step = step
        self.usage = usage or SEED_USAGE[step]

    def input_token_bound(self, request: CompletionRequest) -> int:
        # The simulated count is a profile, not a measurement: reserve whichever is larger.
        return max(request.input_token_bound(), self.usage.input_tokens)

    def complete(self, request: CompletionRequest) -> Completion:
        latency = float(getattr(settings, "SIMULATED_LATENCY_SECONDS", 0) or 0)
        if latency > 0:
            time.sleep(latency)
        text = self._plan(request) if self.step == "analysis" else self._change(request)
        tool_input = None
        if request.tool is not None:  # the forced call carries the plan; the text stays empty
            shown = [path for path, _ in _shown_files(request)]
            note = _path_for(_task_of(request)[0])
            named = [note] if _feedback_of(request) is not None and note in shown else shown[:1]
            tool_input, text = {"plan": text, "files": named}, ""
        output = min(self.usage.output_tokens, request.max_tokens)
        digest = hashlib.sha1(f"{request.model}\n{request.user}".encode()).hexdigest()[:20]
        return Completion(
            text=text,
            usage=Usage(**{**self.usage.as_dict(), "output_tokens": output}),
            request_id=f"sim-{digest}",
            stop_reason="simulated",
            truncated=output < self.usage.output_tokens,
            tool_input=tool_input,
        )

    # --- batch mode: an instant, deterministic stand-in for the vendors' batch APIs ----------------
    # The "vendor side" of each batch is a JSON file in SIMULATED_BATCH_DIR, written at submit with
    # every answer already in it: the batch has ended by the first poll.

    def submit_batch(self, requests: dict[str, CompletionRequest], *, marker: dict[str, str]) -> str:
        folder = Path(settings.SIMULATED_BATCH_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        vendor_id = f"sim-{self.vendor}-batch-{len(list(folder.glob('*.json'))) + 1:06d}"
        answers = {cid: self.complete(request) for cid, request in requests.items()}
        items = {
            cid: {
                "text": c.text,
                "usage": c.usage.as_dict(),
                "request_id": c.request_id,
                "truncated": c.truncated,
                "tool_input": c.tool_input,
            }
            for cid, c in answers.items()
        }
        (folder / f"{vendor_id}.json").write_text(json.dumps({"marker": marker, "items": items}))
        return vendor_id

    def batch_state(self, vendor_id: str) -> BatchState:
        return BatchState(vendor_id, "ended", ended=True)

    def batch_results(self, vendor_id: str) -> list[BatchItem]:
        stored = json.loads((Path(settings.SIMULATED_BATCH_DIR) / f"{vendor_id}.json").read_text())
        return [
            BatchItem(
                cid,
                Completion(
                    text=item["text"],
                    usage=Usage(**item["usage"]),
                    request_id=item["request_id"],
                    stop_reason="simulated",
                    truncated=item["truncated"],
                    tool_input=item.get("tool_input"),
                ),
            )
            for cid, item in stored["items"].items()
        ]

    def find_batch(
        self, *, marker: dict[str, str], custom_ids: set[str], since, known: set[str]
    ) -> str | None:
        for path in sorted(Path(settings.SIMULATED_BATCH_DIR).glob(f"sim-{self.vendor}-batch-*.json")):
            if path.stem not in known and json.loads(path.read_text())["marker"] == marker:
                return path.stem
        return None

    def _plan(self, request: CompletionRequest) -> str:
        title, description = _task_of(request)
        path = _path_for(title)
        feedback = _feedback_of(request)
        if feedback is not None:  # a revision: answer the feedback in the task's note
            return (
                f"Revision for: {title}\n\n"
                f"1. In `{path}`, add a section saying how the change answers the {feedback}.\n"
                "2. Change nothing else.\n"
            )
        why = description.splitlines()[0] if description else "The task says what is wanted; keep it small."
        shown = _shown_files(request)
        touch = (
            f"2. Note the change in `{shown[0][0]}`, the file that matters most for it.\n" if shown else ""
        )
        return (
            f"Plan for: {title}\n\n"
            f"1. Add `{path}` describing the change and why it is needed: {why}\n"
            f"{touch}"
            f"{3 if touch else 2}. Keep the change small so it is easy to review, and say how a reviewer can check it.\n"
        )

    def _change(self, request: CompletionRequest) -> str:
        title, description = _task_of(request)
        plan = (
            request.user.split("\n\nImplementation plan:\n", 1)[-1]
            .split("\n\nCurrent content of", 1)[0]
            .strip()
        )
        content = (
            f"# {title}\n\n"
            f"{description or 'No description was given.'}\n\n"
            "## Plan\n\n"
            f"{plan}\n\n"
            "## How to check\n\n"
            "Read this note and compare it with the task; nothing else changed.\n"
        )
        shown = _whole_files(request)
        note = dict(shown).get(_path_for(title))
        if plan.startswith("Revision for:") and note is not None:  # a revision: the note grows a section
            answered = plan.splitlines()[2].split(" answers the ", 1)[-1]
            edit = _edit_of(
                _path_for(title), note, title, addition=f"\n## Revision\n\nAnswers the {answered}"
            )
            return json.dumps({"summary": f"Answers the feedback in {_path_for(title)}", "changes": [edit]})
        changes = [{"path": _path_for(title), "action": "create", "content": content, "edits": []}]
        edit = _edit_of(*shown[0], title) if shown else None
        if edit:
            changes.append(edit)
        touched = f" and notes it in {edit['path']}" if edit else ""
        return json.dumps(
            {"summary": f"Adds {_path_for(title)} describing: {title}{touched}", "changes": changes}
        )


# How the simulated analyst tells a revision's prompt (``executions.analysis.analyst.REVISION_HEADER``
# holds it): read from the prompt as a model would, since providers sit below the prompts.
REVISION_MARK = "feedback asks for a follow-up change."


def _feedback_of(request: CompletionRequest) -> str | None:
    """For a revision's analysis, what its feedback is (``executions.analysis.analyst.revision_part``)."""
    at = request.user.find(REVISION_MARK)
    if at < 0:
        return None
    start = request.user.find("{", at)
    try:
        feedback, _end = json.JSONDecoder().raw_decode(request.user, start)
    except ValueError:
        return "feedback"
    kind = str(feedback.get("kind") or "feedback")
    words = " ".join(str(feedback.get("text") or feedback.get("body") or "").split())[:120]
    return f"{kind}" + (f" ({words})" if words else "")


def _path_for(title: str) -> str:
    return f"docs/changes/{slugify(title)[:60].strip('-') or 'task'}.md"


def simulated_providers(
    *, analysis_usage: Usage | None = None, codegen_usage: Usage | None = None
) -> Providers:
    return Providers(
        analysis=SimulatedProvider("anthropic", "analysis", usage=analysis_usage),
        codegen=SimulatedProvider("openai", "codegen", usage=codegen_usage),
    )
