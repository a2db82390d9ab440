"""Repository gateways: GitHub (PyGithub) and a local git repository, behind one interface
(``executions.gateways.base.RepositoryGateway``). ``get_gateway(repository)`` gives the one of a
``Repository`` row: GitHub for a GitHub repository, local git for a path.
"""

from __future__ import annotations

from executions.gateways.base import RepositoryGateway
from executions.gateways.local_git import LocalGitGateway
from executions.models import Repository, default_repository_id

__all__ = ["RepositoryGateway", "get_gateway"]


def get_gateway(repository: Repository | None = None) -> RepositoryGateway:
    """The gateway of ``repository``; by default of the one the settings name (new tasks' default:
    ``GITHUB_REPOSITORY`` when GitHub is configured, else ``LOCAL_REPO_PATH``)."""
    if repository is None:
        repository = Repository.objects.get(pk=default_repository_id())
    if repository.kind == Repository.Kind.GITHUB:
        # Imported here: PyGithub and its crypto stack take ~0.2 s to import, and only deployments
        # that publish to GitHub need them.
        from executions.github.gateway import GitHubGateway

        return GitHubGateway.for_repository(repository)
    return LocalGitGateway.for_repository(repository)
