"""What the models are shown of a repository: its index at a commit (``repoindex``, with the
tree-sitter ``grammars``, each file's literals and names in ``references``, the project's own
source told from tests and docs by ``layout``), what a task names outright (``tasknames``) and
what that leads to (``signals``), the map ranked for a task with the best files' content
(``repomap``), the excerpt of a file too large to show whole (``excerpts``), the analyst's
``show`` answered (``lookups``) and how a name reaches a prompt (``quoting``).

May import only ``repositories`` (the gateway it reads a commit through) and below.
"""
