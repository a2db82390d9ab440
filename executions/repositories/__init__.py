"""Repositories and publishing: the gateway interface (``base``) with its two implementations side
by side, GitHub's REST API through PyGithub (``github``) and a local git repository
(``local_git``), chosen in one place above both (``gateways.get_gateway``); the paths a change
may write (``paths``); which repositories' tasks may run and what each spent (``standing``); the
pull request's body (``pr_body``) and the comments the product owes GitHub (``comments``).

The ground floor of the pipeline: imports only ``executions.models``, ``executions.errors``,
``budget`` and ``notifications``.
"""
