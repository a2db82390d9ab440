"""What the work really costs and whether the vendors agree: the measured profile and the next
execution's worst case (``measured``, for ``budget costs``), the ledger checked against the
vendors' usage reports (``reconcile``) and the month's recap facts (``recap``).

A coordinator: it may import everything below it; no other coordinator imports it.
"""
