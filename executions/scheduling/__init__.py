"""The scheduled runner: every SCHEDULE_MINUTES the worker considers the next execution
(``scheduler``), within the run slots shared by every cluster (``slots``).

A coordinator: it may import everything below it; no other coordinator imports it.
"""
