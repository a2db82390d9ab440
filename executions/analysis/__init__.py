"""The analyst: its prompt, its tools (``submit_plan``) and the reading of its answer, side by
side (``analyst``).

May import: ``context``, ``providers`` (the completion it reads), ``repositories`` (path rules),
``executions.models`` and ``executions.errors``. Never the pipeline that asks it.
"""
