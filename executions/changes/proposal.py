"""The coder's answer as data, between the parser that reads it (``executions.changes.coder``) and
the code that applies it (``executions.changes.edits``): what was proposed, and why a proposal did
not apply. Both sides import these types from here, so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

from executions.changes.validation import show


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str


@dataclass(frozen=True)
class ProposedFile:
    path: str
    action: str
    content: str = ""
    edits: list[Edit] = field(default_factory=list)


@dataclass(frozen=True)
class Proposal:
    """The coder's answer, well formed and with safe paths, not yet applied to any file."""

    summary: str
    files: list[ProposedFile]


@dataclass(frozen=True)
class EditFailure:
    """One reason an answer does not apply. ``edit``: the 1-based number of the search/replace
    pair (``None``: the file as a whole); ``lines``: the file's actual lines that help a second
    try, numbered as excerpts show them (the closest to a search not found, the places of a search
    found several times, or those around the line where the result stops parsing), else ""."""

    path: str
    reason: str
    edit: int | None = None
    lines: str = ""

    def line(self) -> str:
        """One line for people: ``edit 2 of "a.py": the search text was not found (...)``."""
        if self.edit is not None:
            return f"edit {self.edit} of {show(self.path)}: {self.reason}"
        return f"{show(self.path)}: {self.reason}" if self.path else self.reason
