"""Tasks (the backlog), executions (one pipeline run each) and the model calls they paid for."""

from django.db import models
from django.db.models import Q

from budget.models import Period, Price, Provider, Reservation
from budget.money import format_usd


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

    ACTIVE = (Status.RESERVED, Status.ANALYSING, Status.GENERATING, Status.PUBLISHING)

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="executions")
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
    reserved_nanos = models.BigIntegerField(default=0, help_text="The worst case held at the start.")
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
