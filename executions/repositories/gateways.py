"""Repository gateways: GitHub (PyGithub) and a local git repository, behind one interface
(``executions.repositories.base.RepositoryGateway``). ``get_gateway(repository)`` gives the one of a
``Repository`` row: GitHub for a GitHub repository, local git for a path. It is the one place that
knows both, and the one that marks a repository GitHub refuses (``repositories.mark_unavailable``):
the gateways themselves only report it.
"""

from __future__ import annotations

from functools import partial

from executions.models import Repository, default_repository_id
from executions.repositories.base import RepositoryGateway
from executions.repositories.local_git import LocalGitGateway
from executions.repositories.standing import mark_available, mark_unavailable

__all__ = ["RepositoryGateway", "check_access", "get_gateway"]


def get_gateway(repository: Repository | None = None) -> RepositoryGateway:
    """The gateway of ``repository``; by default of the one the settings name (new tasks' default:
    ``GITHUB_REPOSITORY`` when GitHub is configured, else ``LOCAL_REPO_PATH``)."""
    if repository is None:
        repository = Repository.objects.get(pk=default_repository_id())
    if repository.kind == Repository.Kind.GITHUB:
        # Imported here: PyGithub and its crypto stack take ~0.2 s to import, and only deployments
        # that publish to GitHub need them.
        from executions.repositories.github import GitHubGateway

        # A 404 or 403 marks the repository: its tasks wait, the others go on.
        return GitHubGateway.for_repository(
            repository, on_unavailable=partial(mark_unavailable, repository.pk)
        )
    return LocalGitGateway.for_repository(repository)


def check_access(repository: Repository) -> None:
    """Ask GitHub (or the local repository) whether ``repository``'s tasks could run: raises
    ``PublishError`` if not (a 404 or 403 marks it), clears its mark if they can."""
    get_gateway(repository).check_access()
    mark_available(repository)
