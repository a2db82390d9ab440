"""How the coder's answer becomes files: its prompt and parser (``coder``), the edits applied to
the base content (``edits``) and the rules every path and content must pass (``validation``)."""
