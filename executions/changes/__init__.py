"""How the coder's answer becomes files: its prompt and parser (``coder``), the answer as data
(``proposal``), where each search/replace pair applies (``matching``), the edits applied to the
base content (``edits``), the syntax check of every file written (``syntax``) and the rules every
path and content must pass (``validation``).

May import ``providers`` (the coder's text is a vendor's), ``context`` (numbered excerpts, the
grammars), ``repositories`` (the change a gateway publishes, the path rules) and below; never the
analyst beside it or the pipeline above it.
"""
