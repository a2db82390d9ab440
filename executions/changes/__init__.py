"""How the coder's answer becomes files: its prompt and parser (``coder``), where each
search/replace pair applies (``matching``), the edits applied to the base content (``edits``),
the syntax check of every file written (``syntax``) and the rules every path and content must
pass (``validation``)."""
