"""Tasks (the backlog), the repositories they go to, executions (one pipeline run each) and the
model calls they paid for."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from budget.models import Period, Price, Provider, Reservation
from budget.money import format_usd


class Repository(models.Model):
    """Where tasks become pull requests (GitHub ``owner/name``) or commits (a local git repository).

    Managed in the admin. A disabled repository's tasks wait; so do those of a repository GitHub
    answered 404 or 403 for (``problem`` says why, until it answers again). New tasks go to
    ``default_repository_id()``'s: the one the settings name.
    """

    class Kind(models.TextChoices):
        GITHUB = "github", "GitHub"
        LOCAL = "local", "local git"

    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.GITHUB)
    name = models.CharField(
        max_length=500,
        unique=True,
        help_text="owner/name on GitHub; the path of the git repository on this machine for local git.",
    )
    base_branch = models.CharField(
        max_length=255, blank=True, help_text="The branch pull requests target. Empty: the default branch."
    )
    enabled = models.BooleanField(default=True, help_text="Off: its tasks wait and its issues are not read.")
    pr_labels = models.CharField(
        max_length=500,
        blank=True,
        help_text="Labels for its pull requests, comma-separated (created if missing).",
    )
    problem = models.TextField(
        blank=True,
        help_text="Why its tasks wait: what GitHub answered (404 or 403). Cleared when GitHub answers again "
        "(the issue poll checks it, or the admin action 'Check access now').",
    )
    problem_at = models.DateTimeField(null=True, blank=True)
    issues_since = models.DateTimeField(
        null=True, blank=True, help_text="The last issue update the poll has seen (GitHub's clock)."
    )
    issues_etag = models.CharField(max_length=200, blank=True, help_text="For conditional polling requests.")
    issues_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="Its issues were last polled then."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name

    @property
    def labels(self) -> list[str]:
        return [label.strip() for label in self.pr_labels.split(",") if label.strip()]

    @property
    def runnable(self) -> bool:
        return self.enabled and not self.problem


def default_repository_id() -> int:
    """The repository new tasks go to when none is named: ``GITHUB_REPOSITORY`` when GitHub is
    configured (a token or GitHub App), else the local git repository at ``LOCAL_REPO_PATH``. Its
    row is created on first use, so the settings keep working as they did before repositories."""
    if settings.GITHUB_REPOSITORY.strip() and (settings.GITHUB_TOKEN or settings.GITHUB_APP_ID):
        kind, name = Repository.Kind.GITHUB, settings.GITHUB_REPOSITORY.strip()
        base_branch = settings.GITHUB_BASE_BRANCH.strip()
    else:
        kind, name, base_branch = Repository.Kind.LOCAL, str(settings.LOCAL_REPO_PATH), ""
    repository, _ = Repository.objects.get_or_create(
        name=name, defaults={"kind": kind, "base_branch": base_branch, "pr_labels": settings.GITHUB_PR_LABEL}
    )
    return repository.pk


class Task(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # attempts ran out
        SKIPPED = "skipped"
        REJECTED = "rejected"  # its pull request was closed without merging; not retried by itself

    class Source(models.TextChoices):
        MANUAL = "manual"
        FILE = "file"
        REPOSITORY = "repository"
        API = "api"
        GITHUB_ISSUE = "github_issue", "GitHub issue"
        BACKTEST = "backtest"  # a replayed pull request (``backtest --models``): never scheduled

    class IssueState(models.TextChoices):
        OPEN = "open"  # open and labelled: the task may run
        CLOSED = "closed"
        UNLABELED = "unlabeled"
        DELETED = "deleted"

    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    priority = models.IntegerField(default=0, help_text="Higher runs first.")
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    source_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="De-duplication key: importing the same item twice keeps one task.",
    )
    repository = models.ForeignKey(
        Repository,
        on_delete=models.PROTECT,
        related_name="tasks",
        default=default_repository_id,
        help_text="Where its change goes. Fixed once it has run.",
    )
    # Tasks from GitHub issues (``executions.github.issues``): which issue, and what it last said.
    issue_number = models.PositiveIntegerField(null=True, blank=True, help_text="Its GitHub issue.")
    issue_state = models.CharField(max_length=10, choices=IssueState.choices, blank=True)
    issue_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="The issue's updated_at when the task last followed it."
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "created_at"]
        indexes = [models.Index(fields=["status", "-priority", "created_at"])]

    def __str__(self) -> str:
        return self.title


class Execution(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved"
        ANALYSING = "analysing"
        GENERATING = "generating"
        PUBLISHING = "publishing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        ABANDONED = "abandoned"  # its worker died; the reaper closed it

    class Kind(models.TextChoices):
        TASK = "task"
        BACKTEST = "backtest"  # charged like any execution, published nowhere (``backtest --models``)

    ACTIVE = (Status.RESERVED, Status.ANALYSING, Status.GENERATING, Status.PUBLISHING)

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="executions")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TASK)
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="executions")
    reservation = models.OneToOneField(
        Reservation, null=True, blank=True, on_delete=models.PROTECT, related_name="execution"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RESERVED)
    simulated = models.BooleanField(default=False)
    plan = models.TextField(blank=True)
    plan_files = models.JSONField(
        default=list, blank=True, help_text="The existing files the plan named; the coder saw their content."
    )
    plan_definitions = models.JSONField(
        default=list,
        blank=True,
        help_text="The definitions the plan named to change or read (file::Qualified.name): a file too large "
        "to show whole was shown to the coder as an excerpt holding them.",
    )
    plan_notes = models.TextField(blank=True, help_text="What was dropped from the plan (unknown paths).")
    lookups = models.JSONField(
        default=list,
        blank=True,
        help_text="The analyst's look-ups before its plan: what each asked for and what it was shown.",
    )
    analysis_request = models.JSONField(
        null=True,
        blank=True,
        help_text="Batch mode: the analysis request last sent, its look-up rounds included, kept until "
        "the plan comes back (a look-up's follow-up, sent in the next analysis batch, is built on it).",
    )
    change = models.JSONField(null=True, blank=True, help_text="The validated generated change.")
    diff = models.TextField(blank=True, help_text="The applied change as a unified diff against its base.")
    base_sha = models.CharField(
        max_length=64, blank=True, help_text="The commit the models were shown and the change was made on."
    )
    summary = models.TextField(blank=True)
    publisher = models.CharField(max_length=20, blank=True, help_text="local-git or github")
    branch = models.CharField(max_length=255, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    pr_number = models.PositiveIntegerField(null=True, blank=True)
    pr_url = models.URLField(max_length=500, blank=True)
    batch = models.ForeignKey(
        "Batch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="executions",
        help_text="The vendor batch this execution is (or last was) in; none once it left its batch to "
        "go on synchronously (batch mode). Its calls keep the batch they came from.",
    )
    batched = models.BooleanField(default=False, help_text="A step of it ran through a vendor's batch API.")
    revision = models.ForeignKey(
        "Revision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="executions",
        help_text="The revision it ran: a follow-up commit on its task's pull request (or branch).",
    )
    reserved_nanos = models.BigIntegerField(default=0, help_text="The worst case held at the start.")
    reduced = models.TextField(
        blank=True,
        help_text="Empty: it ran in full. Else how it was reduced to fit the month's last dollars, and why.",
    )
    codegen_tries = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The coder tries it may make (empty: 1 + CODEGEN_REFLECTIONS)."
    )
    input_bound = models.CharField(
        max_length=300,
        blank=True,
        help_text="How the analysis input was bounded: counted by the vendor, or the byte bound and why.",
    )
    cost_nanos = models.BigIntegerField(default=0, help_text="Sum of this execution's call costs.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last recorded progress.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["period", "-created_at"]),
        ]
        constraints = [
            # The database itself refuses a second live execution of one task.
            models.UniqueConstraint(
                fields=["task"],
                condition=Q(status__in=["reserved", "analysing", "generating", "publishing"]),
                name="one_active_execution_per_task",
            )
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} of task {self.task_id} ({self.status}, {format_usd(self.cost_nanos)})"


class ModelCall(models.Model):
    """One paid vendor request, with every usage count the vendor reported and what it cost."""

    class Step(models.TextChoices):
        ANALYSIS = "analysis"
        CODEGEN = "codegen"

    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="calls")
    step = models.CharField(max_length=10, choices=Step.choices)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    requested_model = models.CharField(max_length=100)
    model = models.CharField(max_length=100, help_text="The model actually used.")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="calls")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_5m_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(
        default=0, help_text="Of the output tokens, those the model spent reasoning (charged as output)."
    )
    cost_nanos = models.BigIntegerField()
    batch = models.ForeignKey(
        "Batch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
        help_text="The vendor batch this call went through (charged at the batch price).",
    )
    standard_cost_nanos = models.BigIntegerField(
        null=True, blank=True, help_text="What the call would have cost at the standard price (batch calls)."
    )
    request_id = models.CharField(max_length=200, blank=True)
    result_key = models.CharField(
        max_length=200,
        blank=True,
        help_text="The vendor result this call charges (a batch's: '<vendor batch id>/<custom id>'); "
        "one execution's step is charged once per result, however many passes read it.",
    )
    duration_ms = models.PositiveIntegerField(default=0)
    simulated = models.BooleanField(default=False)
    try_number = models.PositiveSmallIntegerField(
        default=1,
        help_text="Which try of its step this call was (the coder is asked again when an answer fails).",
    )
    failure = models.TextField(
        blank=True,
        help_text="Why this call's answer could not be used (parse, apply or syntax), one line each.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # A pass that stops between a result's charge and the state change it leads to leaves
            # the result to the next pass, which must not charge it again: the database refuses it.
            models.UniqueConstraint(
                fields=["execution", "step", "result_key"],
                condition=~Q(result_key=""),
                name="one_charge_per_vendor_result",
            )
        ]

    def __str__(self) -> str:
        return f"{self.step} on {self.model} ({format_usd(self.cost_nanos)})"


class StepConfig(models.Model):
    """Which model a pipeline step uses and its output cap. Edited in the admin, not in code."""

    step = models.CharField(max_length=10, choices=ModelCall.Step.choices, unique=True)

    class ReasoningEffort(models.TextChoices):
        NONE = "none"
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        XHIGH = "xhigh"
        MAX = "max"

    model_name = models.CharField(max_length=100, help_text="A model id from the catalog.")
    max_tokens = models.PositiveIntegerField()
    batch = models.BooleanField(
        null=True,
        blank=True,
        help_text="Run this step through the vendor's batch API at its batch price (results within 24 h). "
        "Empty: follow the LLM_BATCH setting.",
    )
    reasoning_effort = models.CharField(
        max_length=10,
        choices=ReasoningEffort.choices,
        default=ReasoningEffort.LOW,
        blank=True,
        help_text="Sent to reasoning models only (gpt-6-luna). Reasoning tokens are billed as output and "
        "count against max tokens; temperature is sent only with 'none'. Blank: the vendor's default.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["step"]
        constraints = [models.CheckConstraint(condition=Q(max_tokens__gt=0), name="max_tokens_positive")]

    def __str__(self) -> str:
        return f"{self.step}: {self.model_name} (max {self.max_tokens} tokens)"


class Batch(models.Model):
    """One vendor batch of one step's requests, ``custom_id`` = the execution's id.

    The row is written before the submit call and gets the vendor's id right after it, so a crash
    in between leaves a row in ``submitting`` that the next ``run_batches`` pass reconciles with the
    vendor. At most one batch of new tasks is being submitted at a time (the constraint below): that
    is what makes two passes at once submit one batch, not two.
    """

    class Status(models.TextChoices):
        SUBMITTING = "submitting"  # the row exists; the vendor's id is not known yet
        IN_PROGRESS = "in_progress"  # the vendor has it
        ENDED = "ended"  # its results are all charged and handled
        FAILED = (
            "failed"  # never reached the vendor (or the vendor refused it, ``refused``): nothing was spent
        )

    IN_FLIGHT = (Status.SUBMITTING, Status.IN_PROGRESS)

    step = models.CharField(max_length=10, choices=ModelCall.Step.choices)
    new_tasks = models.BooleanField(
        default=True,
        help_text="Claimed pending tasks (the first batch step), rather than continuing executions.",
    )
    provider = models.CharField(max_length=20, choices=Provider.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUBMITTING)
    vendor_batch_id = models.CharField(max_length=200, blank=True)
    vendor_status = models.CharField(max_length=30, blank=True, help_text="As the vendor last reported it.")
    simulated = models.BooleanField(default=False)
    requested_model = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="batches")
    max_tokens = models.PositiveIntegerField()
    request_count = models.PositiveIntegerField(default=0)
    refused = models.BooleanField(
        default=False,
        help_text="The vendor refused the whole batch (a configuration problem): its tasks kept their attempts.",
    )
    polls = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(help_text="A pass working on the row holds it until then.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "batches"
        constraints = [
            models.UniqueConstraint(
                fields=["new_tasks"],
                condition=Q(status="submitting", new_tasks=True),
                name="one_batch_of_new_tasks_submitting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.step} batch {self.pk} ({self.status}, {self.request_count} requests)"


class PullRequest(models.Model):
    """A pull request an execution opened, and what became of it (``executions.github.pull_requests``).

    It counts in the budget period of the execution that opened it (the money that paid for it),
    whichever execution later updates it.
    """

    class State(models.TextChoices):
        OPEN = "open"
        MERGED = "merged"
        CLOSED = "closed"  # closed without merging

    class Checks(models.TextChoices):
        NONE = "none"  # no check or status reported on the head commit
        PENDING = "pending"
        SUCCESS = "success"
        FAILURE = "failure"

    execution = models.ForeignKey(
        Execution, on_delete=models.PROTECT, related_name="pull_requests", help_text="The one that opened it."
    )
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="pull_requests")
    repository = models.CharField(max_length=200, help_text="owner/name")
    number = models.PositiveIntegerField()
    url = models.URLField(max_length=500)
    head_branch = models.CharField(max_length=255)
    head_sha = models.CharField(max_length=64)
    state = models.CharField(max_length=6, choices=State.choices, default=State.OPEN)
    checks = models.CharField(
        max_length=7, choices=Checks.choices, default=Checks.NONE, help_text="Combined, on the head commit."
    )
    check_results = models.JSONField(
        default=dict, blank=True, help_text="Each check's last result on the head commit, by name."
    )
    opened_at = models.DateTimeField()
    merged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    etag = models.CharField(max_length=200, blank=True, help_text="For conditional polling requests.")
    synced_at = models.DateTimeField(null=True, blank=True, help_text="Last refreshed from GitHub.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["state"]), models.Index(fields=["head_sha"])]
        constraints = [
            models.UniqueConstraint(fields=["repository", "number"], name="one_row_per_pull_request")
        ]

    def __str__(self) -> str:
        return f"{self.repository}#{self.number} ({self.state})"


class Revision(models.Model):
    """A follow-up commit asked of one of the product's pull requests (or, with local git, of a
    task's branch): queued by failed checks, a review or a comment (``executions.github.triggers``)
    or ``manage.py revise``, and run like pending work as an execution of the same task
    (``executions.revisions.lifecycle``). ``key`` names the feedback that asked for it: one revision each."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"  # its commit is on the branch
        FAILED = "failed"  # its attempts ran out
        CANCELLED = "cancelled"  # never ran: its pull request closed, or its branch is gone

    class Kind(models.TextChoices):
        CHECKS = "checks", "failed checks"
        REVIEW = "review"
        COMMENT = "comment"
        COMMAND = "command", "command line"

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="revisions")
    pull_request = models.ForeignKey(
        PullRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    branch = models.CharField(max_length=255, help_text="The branch its commit goes on.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True, help_text="The feedback that asked for it.")
    source = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the feedback is: a commit, a review, a comment, its author.",
    )
    feedback = models.JSONField(
        null=True, blank=True, help_text="What the analyst was shown of it (read once, before the first run)."
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    restarted = models.BooleanField(
        default=False, help_text="Its branch moved while it ran, and it started again from the new head."
    )
    branch_moved_to = models.CharField(
        max_length=64, blank=True, help_text="Where the branch had moved when its last run tried to commit."
    )
    commit_sha = models.CharField(max_length=64, blank=True, help_text="The follow-up commit.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(help_text="When it was queued: its age among pending work.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        where = f"#{self.pull_request.number}" if self.pull_request_id else self.branch
        return f"revision {self.pk} of {where} ({self.status})"


class WebhookDelivery(models.Model):
    """A GitHub webhook delivery that was acted on; its id, unique, makes a replay change nothing."""

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class RepositoryUsage(models.Model):
    """Running totals per (period, repository): what each repository's executions spent, how many
    ran, the pull requests they opened and how many were merged. Written in the transactions that
    change the period's own counts (``executions.repositories.standing``), so the rows of a period add up
    to its figures."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="repository_usage")
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="usage")
    spent_nanos = models.BigIntegerField(default=0)
    executions = models.PositiveIntegerField(default=0)
    prs = models.PositiveIntegerField(default=0, help_text="Pull requests opened.")
    merged_prs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["period", "repository"]
        constraints = [
            models.UniqueConstraint(fields=["period", "repository"], name="one_usage_row_per_repository")
        ]

    def __str__(self) -> str:
        return f"{self.repository}: {format_usd(self.spent_nanos)}"


class IssueComment(models.Model):
    """A comment the product owes a GitHub issue (its pull request opened, its task failed for
    good): recorded in the transaction of the fact it reports, posted right after and retried
    until it lands (``executions.repositories.comments``). ``key`` makes it one comment per fact."""

    class Status(models.TextChoices):
        PENDING = "pending"
        POSTED = "posted"
        FAILED = "failed"  # gave up after its last attempt

    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="issue_comments")
    number = models.PositiveIntegerField(help_text="The issue (or pull request) it is posted on.")
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="issue_comments")
    key = models.CharField(max_length=100, unique=True, help_text="What it reports: one comment per fact.")
    body = models.TextField()
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(help_text="When it is next tried (a poster holds it until then).")
    comment_id = models.BigIntegerField(null=True, blank=True, help_text="GitHub's id of the posted comment.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"comment on {self.repository}#{self.number} ({self.status})"


class Applied(models.TextChoices):
    """Whether a backtest's produced change applied to the base."""

    FIRST_TRY = "first_try", "first try"
    AFTER_RETRY = "after_retry", "after a retry"
    NEVER = "never"


class BacktestRun(models.Model):
    """One ``manage.py backtest`` of a repository: its merged pull requests replayed
    (``executions.backtest``). The totals are counts over its cases, so every figure is exact."""

    class Mode(models.TextChoices):
        CONTEXT = "context"  # what the analyst would have been shown: free
        MODELS = "models"  # also what the models would have done: charged, published nowhere

    class Status(models.TextChoices):
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="backtests")
    mode = models.CharField(max_length=7, choices=Mode.choices, default=Mode.CONTEXT)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    last = models.PositiveIntegerField(help_text="How many merged pull requests were asked for.")
    since = models.DateField(null=True, blank=True)
    spend_cap_nanos = models.BigIntegerField(null=True, blank=True, help_text="--spend, in model mode.")
    files = models.PositiveIntegerField(default=0, help_text="Files the real changes touched.")
    files_shown = models.PositiveIntegerField(default=0, help_text="Of those, shown whole or as an excerpt.")
    definitions = models.PositiveIntegerField(default=0, help_text="Definitions the real changes touched.")
    signatures_shown = models.PositiveIntegerField(default=0)
    bodies_shown = models.PositiveIntegerField(default=0)
    prompt_bytes = models.BigIntegerField(default=0, help_text="Of all the cases' analysis prompts.")
    plan_hits = models.PositiveIntegerField(default=0)
    file_hits = models.PositiveIntegerField(default=0)
    definition_hits = models.PositiveIntegerField(default=0)
    applied_first_try = models.PositiveIntegerField(default=0)
    applied_after_retry = models.PositiveIntegerField(default=0)
    never_applied = models.PositiveIntegerField(default=0)
    cost_nanos = models.BigIntegerField(default=0, help_text="What its model mode was charged.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"backtest {self.pk} of {self.repository} ({self.mode}, {self.status})"


class BacktestCase(models.Model):
    """One replayed pull request: the task the product would have been given, its base, what the
    real change touched, and what the analyst's prompt held of it."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="cases")
    position = models.PositiveIntegerField(help_text="1 = the newest case of its run.")
    number = models.PositiveIntegerField(null=True, blank=True, help_text="The real pull request.")
    url = models.URLField(max_length=500, blank=True, help_text="The real pull request.")
    merge_sha = models.CharField(max_length=64)
    base_sha = models.CharField(max_length=64, help_text="The merge's first parent: the prompt's commit.")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    real_diff = models.TextField(blank=True, help_text="The real change to the files measured.")
    seen_files = models.JSONField(
        default=list, help_text="Each real file: in the prompt, shown, rank, in map."
    )
    seen_definitions = models.JSONField(
        default=list, help_text="Each real definition: signature, body shown."
    )
    files = models.PositiveIntegerField(default=0)
    files_shown = models.PositiveIntegerField(default=0)
    definitions = models.PositiveIntegerField(default=0)
    signatures_shown = models.PositiveIntegerField(default=0)
    bodies_shown = models.PositiveIntegerField(default=0)
    prompt_bytes = models.PositiveIntegerField(default=0)
    # Model mode: what the product did with the case (its execution holds the calls and the diff).
    execution = models.OneToOneField(
        Execution, null=True, blank=True, on_delete=models.PROTECT, related_name="backtest_case"
    )
    plan_files = models.JSONField(default=list, blank=True, help_text="The files the plan named.")
    plan_hits = models.PositiveIntegerField(default=0, help_text="Real files the plan named.")
    applied = models.CharField(max_length=11, choices=Applied.choices, blank=True)
    produced_files = models.JSONField(
        default=list, blank=True, help_text="Files the produced change touched."
    )
    produced_definitions = models.JSONField(default=list, blank=True)
    file_hits = models.PositiveIntegerField(default=0, help_text="Real files the produced change touched.")
    definition_hits = models.PositiveIntegerField(default=0, help_text="Real definitions it touched.")
    cost_nanos = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="one_case_per_position")]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}" if self.number else self.title
