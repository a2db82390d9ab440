"""What the models are shown of a repository: its index at a commit (``repoindex``, with the
tree-sitter ``grammars``), the map ranked for a task with the best files' content (``repomap``),
and the excerpt of a file too large to show whole (``excerpts``)."""
