"""What the models are shown of a repository: its index at a commit (``repoindex``) and the map
ranked for a task with the best files' content (``repomap``)."""
