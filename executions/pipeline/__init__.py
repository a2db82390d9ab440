"""One execution of one task, from claim to published change: ``runner`` (claim, reserve, the two
steps, apply, publish, finish), ``steps`` (which model each step uses, the requests, their worst
cases), ``charging`` (a vendor's answer charged once), ``state`` (state changes conditional on the
state last seen), ``announce`` (what the outbox is told) and ``reaper`` (crash recovery).

May import everything below it: ``github``, ``backlog``, ``revisions``, ``analysis``, ``changes``,
``providers``, ``context``, ``repositories``. Never the coordinators above it (``scheduling``,
``batches``, ``costs``).
"""
