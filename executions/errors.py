"""The pipeline's domain errors. Each message is one line a person can act on, with no secret in it."""

from __future__ import annotations


class ExecutionError(Exception):
    """Base of the errors ``executions`` raises on purpose."""


class TaskBusy(ExecutionError):
    """The task cannot be claimed: another process runs it, or it is not pending."""


class InvalidTask(ExecutionError, ValueError):
    """A task (or an imported checklist item) a person wrote is not usable as it is."""


class ConfigurationError(ExecutionError):
    """The pipeline is not configured to run (a missing API key, a step without a usable model)."""


class RepositoryDisabled(ConfigurationError):
    """The task's repository is disabled in the admin: its tasks wait until it is enabled."""


class ProviderError(ExecutionError):
    """A vendor call failed for good (after the SDK's retries). Nothing was charged for it."""


class ChangeRejected(ExecutionError):
    """The generated change is not one the product may publish (see ``executions.changes.validation``)."""


class BatchRefused(ProviderError):
    """The vendor refused a batch submission outright (a 4xx answer): no batch was created."""


class BatchUndecided(ProviderError):
    """Whether a lost batch submission reached the vendor cannot be told yet: ask again later."""


class UsageOverrun(ExecutionError):
    """A vendor billed a call for more than the request allowed. It was charged (it is what was
    billed); the execution stops before any further paid call."""


class ExecutionMovedOn(ExecutionError):
    """The execution is no longer in the state this worker last saw: another worker moved it on
    (in batch mode, a pass that took over its batch). This one leaves it as it is."""


class ExecutionAbandoned(ExecutionError):
    """The reaper closed the execution while a worker still ran it (a call outlasted the reservation
    timeout). What was billed stays charged; the worker stops and leaves it as the reaper did."""


class WorkSetAside(TaskBusy):
    """Preparing the work failed for a reason of its own: the try counted as one of its attempts,
    the reason was recorded, and the next pending work goes on (``executions.pipeline.preparation``)."""


class RevisionCancelled(TaskBusy):
    """A queued revision cannot run and never will: its pull request was merged or closed, or its
    branch is gone. It is cancelled before anything is charged; the next pending work goes on."""
