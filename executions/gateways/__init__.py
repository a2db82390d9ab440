"""Repository gateways: GitHub (PyGithub) and a local git repository, behind one interface
(``executions.gateways.base.RepositoryGateway``). ``get_gateway()`` picks GitHub when it is
configured, else local git.
"""

from __future__ import annotations

from django.conf import settings

from executions.gateways.base import RepositoryGateway
from executions.gateways.local_git import LocalGitGateway

__all__ = ["RepositoryGateway", "get_gateway"]


def get_gateway() -> RepositoryGateway:
    """GitHub when GITHUB_TOKEN (or GitHub App credentials) and GITHUB_REPOSITORY are set, else local git."""
    if settings.GITHUB_REPOSITORY and (settings.GITHUB_TOKEN or settings.GITHUB_APP_ID):
        # Imported here: PyGithub and its crypto stack take ~0.2 s to import, and only deployments
        # that publish to GitHub need them.
        from executions.github.gateway import GitHubGateway

        return GitHubGateway.from_settings()
    return LocalGitGateway.from_settings()
