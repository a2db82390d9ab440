"""GitHub's events: the signed webhook (``webhooks``, one handler per event in ``dispatch``,
payloads read defensively in ``payloads``), what became of the pull requests the product opened,
by webhook or polling (``pull_requests``), labelled issues as tasks (``issues``) and what asks a
pull request for a revision (``triggers``). The REST API itself is a gateway beside local git
(``executions.repositories.github``); the comments the product owes are
``executions.repositories.comments``.

May import ``backlog`` (an issue becomes a task), ``revisions`` (feedback asks for one),
``repositories`` and below; never the pipeline or the coordinators above it.
"""
