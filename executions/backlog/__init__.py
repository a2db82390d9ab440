"""The backlog: tasks and which work runs next (``services``: create, requeue, skip, the next
pending task or revision) and the markdown checklist import (``checklist``).

May import ``revisions`` (a queued revision is pending work too), ``repositories`` and below.
"""
