"""A fast in-memory repository gateway (the ``memory_gateway`` fixture, registered in
``tests/conftest.py``) for tests that run many executions and do not look at what was published."""

from __future__ import annotations

import itertools

import pytest

from executions.repositories.base import Change, PublishResult, Snapshot, branch_name

README = b"# Demo\n\nA repository kept in memory.\n"


class MemoryGateway:
    """A repository that keeps published changes in a list: the pacing month runs hundreds of
    executions, and the real local-git publisher (tested in tests/executions) would take minutes."""

    name = "local-git"

    def __init__(self):
        self.published: list[tuple[int, Change]] = []
        self._shas = itertools.count(1)

    def read_file(self, path: str) -> str | None:
        return None

    def snapshot(self) -> Snapshot:
        return Snapshot(name="memory", default_branch="main", commit_sha="0" * 40)

    def list_files(self, commit_sha: str) -> dict[str, int]:
        return {"README.md": len(README)}

    def read_files(self, commit_sha: str, paths: list[str]) -> dict[str, bytes]:
        return {"README.md": README} if "README.md" in paths else {}

    def publish(self, execution, change: Change, *, pr_body: str) -> PublishResult:
        self.published.append((execution.pk, change))
        return PublishResult(
            branch=branch_name(execution.task_id, execution.task.title), commit_sha=f"{next(self._shas):040x}"
        )


@pytest.fixture
def memory_gateway():
    return MemoryGateway()
