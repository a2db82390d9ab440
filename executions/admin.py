"""Admin for the repositories, the backlog (tasks), the record of executions and their calls, and
the step models.

Actions and the checklist upload call ``executions.backlog.services`` and ``executions.repositories.standing``;
executions, pull requests, their revisions and issue comments are read-only history.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from budget.admin import ReadOnlyAdmin
from budget.money import format_usd
from budget.pricing import PricingError, lookup_model
from executions.api import not_runnable
from executions.backlog import services
from executions.backlog.checklist import check_size, read_checklist, too_large
from executions.backtest.report import share
from executions.errors import ExecutionError, InvalidTask
from executions.models import (
    BacktestCase,
    BacktestRun,
    Batch,
    Execution,
    IssueComment,
    ModelCall,
    PullRequest,
    Repository,
    Revision,
    StepConfig,
    Task,
    default_repository_id,
)
from executions.repositories import gateways
from executions.repositories.base import PublishError
from executions.revisions import lifecycle

BADGE_COLOURS = {
    "pending": "#5b7fa6",
    "running": "#c0701b",
    "done": "#3d8f5a",
    "failed": "#ba2121",
    "skipped": "#8a8a8a",
    "rejected": "#7a4b9e",
    "open": "#5b7fa6",  # a pull request's state and its checks
    "merged": "#3d8f5a",
    "closed": "#7a4b9e",
    "success": "#3d8f5a",
    "failure": "#ba2121",
    "reserved": "#c0701b",
    "analysing": "#c0701b",
    "generating": "#c0701b",
    "publishing": "#c0701b",
    "succeeded": "#3d8f5a",
    "abandoned": "#ba2121",
    "available": "#3d8f5a",  # a repository, and an issue comment
    "disabled": "#8a8a8a",
    "unavailable": "#ba2121",
    "posted": "#3d8f5a",
    "cancelled": "#8a8a8a",  # a revision that never ran
}


def badge(status: str) -> str:
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;'
        'font-size:0.8em;font-weight:600;background:{}">{}</span>',
        BADGE_COLOURS.get(status, "#8a8a8a"),
        status,
    )


# --- Repositories --------------------------------------------------------------------------------

OWNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


class RepositoryForm(forms.ModelForm):
    class Meta:
        model = Repository
        fields = ["kind", "name", "base_branch", "enabled", "pr_labels"]

    def clean(self):
        cleaned = super().clean()
        name = (cleaned.get("name") or "").strip()
        if cleaned.get("kind") == Repository.Kind.GITHUB and name and not OWNER_NAME.fullmatch(name):
            self.add_error("name", f"A GitHub repository is named owner/name, not {name!r}.")
        if cleaned.get("kind") == Repository.Kind.LOCAL and name and "\0" in name:
            self.add_error("name", "A path cannot hold a NUL character.")
        cleaned["name"] = name
        return cleaned


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    """Where tasks go. New tasks without one go to the settings' (GITHUB_REPOSITORY, else
    LOCAL_REPO_PATH); issues with GITHUB_TASK_LABEL in an enabled GitHub repository become tasks."""

    form = RepositoryForm
    list_display = ["name", "kind", "state_badge", "base_branch", "pr_labels", "pending", "issues_synced_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["problem", "problem_at", "issues_since", "issues_synced_at", "created_at"]
    actions = ["check_access", "enable", "disable"]

    @admin.display(description="state")
    def state_badge(self, repository: Repository) -> str:
        if not repository.enabled:
            return badge("disabled")
        if repository.problem:
            return format_html('<span title="{}">{}</span>', repository.problem, badge("unavailable"))
        return badge("available")

    def get_queryset(self, request):
        pending = Count("tasks", filter=Q(tasks__status=Task.Status.PENDING))
        return super().get_queryset(request).annotate(pending_count=pending)  # one query for the list

    @admin.display(description="pending tasks", ordering="pending_count")
    def pending(self, repository: Repository) -> int:
        return repository.pending_count

    @admin.action(description="Check access now (its tasks run again when GitHub answers)")
    def check_access(self, request, queryset):
        for repository in queryset:
            try:
                gateways.check_access(repository)
            except PublishError as exc:
                messages.error(request, f"{repository.name}: {exc}")
            else:
                messages.success(request, f"{repository.name}: available; its tasks may run.")

    @admin.action(description="Enable (its tasks may run)")
    def enable(self, request, queryset):
        messages.success(request, f"{queryset.update(enabled=True)} repository(ies) enabled.")

    @admin.action(description="Disable (its tasks wait)")
    def disable(self, request, queryset):
        messages.success(request, f"{queryset.update(enabled=False)} repository(ies) disabled.")


# --- Tasks -------------------------------------------------------------------------------------


class ChecklistForm(forms.Form):
    checklist = forms.FileField(
        required=False,
        help_text="A markdown file: '- [ ] Title' lines, indented text below as the description.",
    )
    text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 12, "cols": 80}), help_text="…or paste it here."
    )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("checklist")
        limit = settings.IMPORT_MAX_BYTES
        try:
            if upload:
                if upload.size > limit:  # known before reading it
                    raise InvalidTask(too_large(limit))
                cleaned["text"] = read_checklist(upload, max_bytes=limit)
                cleaned["name"] = upload.name
            elif cleaned.get("text", "").strip():
                check_size(cleaned["text"], max_bytes=limit)
                cleaned["name"] = "pasted"
        except InvalidTask as exc:
            message = str(exc)
            raise forms.ValidationError(message[:1].upper() + message[1:]) from None
        if "name" not in cleaned:
            raise forms.ValidationError("Choose a markdown file or paste a checklist.")
        return cleaned


def _count(items) -> int:
    return items if isinstance(items, int) else len(items)


class TaskAdminForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["title", "description", "priority", "repository", "max_attempts"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("repository")  # absent once the task has run: read-only then
        if field is not None:
            field.required = False
            field.help_text = (
                "Where its change goes. Empty: the settings' (GITHUB_REPOSITORY, else LOCAL_REPO_PATH)."
            )

    def clean_repository(self) -> Repository:
        chosen = self.cleaned_data.get("repository")
        if chosen:
            return chosen
        if self.instance.pk:
            return self.instance.repository
        return Repository.objects.get(pk=default_repository_id())


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    form = TaskAdminForm
    list_display = [
        "title",
        "status_badge",
        "priority",
        "repository",
        "issue",
        "attempts_label",
        "created_at",
    ]
    list_filter = ["status", "source", "repository"]
    list_select_related = ["repository"]
    search_fields = ["title", "description", "source_key"]
    readonly_fields = [
        "status", "source", "source_key", "issue", "issue_state", "attempts", "claimed_at", "created_at",
        "updated_at",
    ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        # A task that has run belongs to the repository it ran in: its branch, PR and figures are there.
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "repository"] if obj and obj.executions.exists() else fields

    @admin.display(description="issue")
    def issue(self, task: Task) -> str:
        if task.issue_number is None:
            return "—"
        url = github_web_url(task.repository, f"issues/{task.issue_number}")
        return format_html('<a href="{}" target="_blank" rel="noopener">#{}</a>', url, task.issue_number)

    actions = ["run_now", "requeue", "skip"]
    change_list_template = "admin/executions/task/change_list.html"

    @admin.display(description="status", ordering="status")
    def status_badge(self, task: Task) -> str:
        return badge(task.status)

    @admin.display(description="attempts")
    def attempts_label(self, task: Task) -> str:
        return f"{task.attempts} / {task.max_attempts}"

    def save_model(self, request, obj: Task, form, change) -> None:
        if change:
            # Only the fields a person edits: status and attempts belong to the pipeline.
            obj.save(
                update_fields=[*form.changed_data, "updated_at"] if form.changed_data else ["updated_at"]
            )
            return
        created = services.create_task(
            **{f: form.cleaned_data[f] for f in ("title", "description", "priority", "repository")}
        )
        if created.max_attempts != form.cleaned_data["max_attempts"]:
            Task.objects.filter(pk=created.pk).update(max_attempts=form.cleaned_data["max_attempts"])
        obj.pk = created.pk

    def _each(self, request, queryset: QuerySet[Task], service, done: str) -> None:
        succeeded = 0
        for task in queryset:
            try:
                service(task)
            except ExecutionError as exc:
                messages.error(request, f"{task.title}: {exc}")
            else:
                succeeded += 1
        if succeeded:
            messages.success(request, f"{succeeded} task{'s' if succeeded != 1 else ''} {done}.")

    @admin.action(description="Run now (queue an execution)")
    def run_now(self, request, queryset):
        for task in queryset.exclude(status=Task.Status.PENDING):
            messages.warning(request, not_runnable(task))
        self._each(
            request, queryset.filter(status=Task.Status.PENDING), services.queue_task, "queued to run now"
        )

    @admin.action(description="Requeue (back to pending)")
    def requeue(self, request, queryset):
        self._each(request, queryset, services.requeue_task, "requeued")

    @admin.action(description="Skip")
    def skip(self, request, queryset):
        self._each(request, queryset, services.skip_task, "skipped")

    def get_urls(self):
        upload = path(
            "upload-checklist/",
            self.admin_site.admin_view(self.upload_checklist),
            name="executions_task_upload_checklist",
        )
        return [upload, *super().get_urls()]

    def upload_checklist(self, request: HttpRequest):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ChecklistForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            name = form.cleaned_data["name"]
            try:
                result = services.import_checklist(
                    form.cleaned_data["text"], source=Task.Source.FILE, source_prefix=name
                )
            except ExecutionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    f"Imported {name}: {_count(result.created)} task(s) created, {_count(result.skipped)} skipped.",
                )
                return HttpResponseRedirect(reverse("admin:executions_task_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a markdown checklist",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/executions/task/upload_checklist.html", context)


# --- Executions --------------------------------------------------------------------------------


class ModelCallInline(admin.TabularInline):
    model = ModelCall
    extra = 0
    can_delete = False
    fields = [
        "step", "try_number", "failure", "model", "requested_model", "input_tokens", "output_tokens",
        "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "reasoning_tokens", "cost", "batch",
        "request_id", "result_key", "duration_ms",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="cost")
    def cost(self, call: ModelCall) -> str:
        return format_usd(call.cost_nanos)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def github_web_url(repository: Repository, path: str) -> str:
    """A page of ``repository`` on GitHub's website (or GitHub Enterprise's, per GITHUB_API_URL)."""
    web = settings.GITHUB_API_URL.replace("api.github.com", "github.com").removesuffix("/api/v3")
    return f"{web.rstrip('/')}/{repository.name}/{path}"


def branch_url(execution: Execution) -> str:
    """Where a person can look at the branch: GitHub when it was published there, else nothing."""
    repository = execution.task.repository
    if execution.publisher == "github" and execution.branch and repository.kind == Repository.Kind.GITHUB:
        return github_web_url(repository, f"tree/{execution.branch}")
    return ""


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "task",
        "status_badge",
        "kind",
        "simulated",
        "batched",
        "cost",
        "result",
        "created_at",
    ]
    list_filter = [
        "status",
        "kind",
        "simulated",
        "batched",
        ("revision", admin.EmptyFieldListFilter),
        "publisher",
        "period",
    ]
    search_fields = ["task__title", "branch", "commit_sha"]
    list_select_related = ["task__repository", "period"]
    show_full_result_count = False  # a count(*) over every execution is not worth it on each page
    inlines = [ModelCallInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "task",
                    "revision",
                    "period",
                    "status_badge",
                    "kind",
                    "simulated",
                    "batched",
                    "batch",
                    "error",
                ]
            },
        ),
        ("Money", {"fields": ["cost", "reserved"]}),
        ("Result", {"fields": ["result", "publisher", "branch", "commit_sha", "summary", "files"]}),
        ("Plan", {"fields": ["plan", "named_files", "named_definitions", "plan_notes", "looked_up"]}),
        ("Applied diff", {"fields": ["applied_diff"], "classes": ["collapse"]}),
        ("Timings", {"fields": ["created_at", "started_at", "heartbeat_at", "finished_at"]}),
    ]
    readonly_fields = [
        "task", "revision", "period", "status_badge", "simulated", "batched", "batch", "error", "cost", "reserved",
        "result", "publisher", "branch", "commit_sha", "summary", "files", "plan", "named_files",
        "named_definitions", "plan_notes", "looked_up",
        "applied_diff", "created_at", "started_at", "heartbeat_at", "finished_at",
    ]  # fmt: skip

    @admin.display(description="status", ordering="status")
    def status_badge(self, e: Execution) -> str:
        return badge(e.status)

    @admin.display(description="cost", ordering="cost_nanos")
    def cost(self, e: Execution) -> str:
        return format_usd(e.cost_nanos)

    @admin.display(description="reserved (worst case)")
    def reserved(self, e: Execution) -> str:
        return format_usd(e.reserved_nanos)

    @admin.display(description="PR / branch")
    def result(self, e: Execution) -> str:
        if e.pr_url:
            return format_html(
                '<a href="{}" target="_blank" rel="noopener">PR #{}</a>', e.pr_url, e.pr_number
            )
        if url := branch_url(e):
            return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, e.branch)
        if e.branch:
            where = e.task.repository.name if e.publisher == "local-git" else e.publisher
            return format_html("<code>{}</code> in {}", e.branch, where)
        return "—"

    @admin.display(description="files changed")
    def files(self, e: Execution) -> str:
        rows = [f for f in (e.change or {}).get("files", []) if isinstance(f, dict)]
        return ", ".join(_file_row(f) for f in rows) or "—"

    @admin.display(description="files named by the plan")
    def named_files(self, e: Execution) -> str:
        return ", ".join(e.plan_files or []) or "—"

    @admin.display(description="definitions named by the plan")
    def named_definitions(self, e: Execution) -> str:
        return ", ".join(e.plan_definitions or []) or "—"

    @admin.display(description="looked up before the plan")
    def looked_up(self, e: Execution) -> str:
        rounds = [
            f"asked {', '.join(r.get('asked', []))}; shown {', '.join(r.get('shown', [])) or 'nothing'}"
            for r in e.lookups or []
        ]
        return " | ".join(rounds) or "—"

    @admin.display(description="applied diff")
    def applied_diff(self, e: Execution) -> str:
        if not e.diff:
            return "—"
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', e.diff
        )


def _file_row(f: dict) -> str:
    counts = f" +{f['added']} −{f['removed']}" if "added" in f else ""
    return f"{f.get('path', '')}{counts}{' (deleted)' if f.get('deleted') else ''}"


# --- Pull requests and what became of them --------------------------------------------------------


@admin.register(PullRequest)
class PullRequestAdmin(ReadOnlyAdmin):
    """Written by the pipeline, the GitHub webhook and ``sync_pull_requests``; read here."""

    list_display = [
        "number_link",
        "task",
        "state_badge",
        "checks_badge",
        "revision_count",
        "total_cost",
        "opened_at",
        "merged_at",
        "closed_at",
    ]
    list_filter = ["state", "checks", "execution__period"]
    search_fields = ["task__title", "head_branch", "head_sha", "repository"]
    list_select_related = ["task"]
    readonly_fields = [
        "number_link", "repository", "task", "execution", "state_badge", "checks_badge", "check_results",
        "revision_count", "total_cost", "revision_list", "head_branch", "head_sha", "opened_at", "merged_at",
        "closed_at", "synced_at", "updated_at",
    ]  # fmt: skip
    fields = readonly_fields

    def get_queryset(self, request):
        return lifecycle.with_totals(super().get_queryset(request))

    @admin.display(description="revisions", ordering="revision_count")
    def revision_count(self, pr: PullRequest) -> int:
        return pr.revision_count

    @admin.display(description="total cost", ordering="total_cost_nanos")
    def total_cost(self, pr: PullRequest) -> str:
        """What every execution of the pull request cost: the one that opened it and its revisions."""
        return format_usd(int(pr.total_cost_nanos))

    @admin.display(description="revisions asked for")
    def revision_list(self, pr: PullRequest) -> str:
        rows = pr.revisions.order_by("created_at", "pk")
        if not rows:
            return "—"
        return format_html_join(
            "",
            '<div><a href="{}">revision {}</a>: {} ({}) {}</div>',
            (
                (reverse("admin:executions_revision_change", args=[r.pk]), r.pk, r.get_kind_display(), r.status,
                 r.commit_sha[:12])
                for r in rows
            ),
        )  # fmt: skip

    @admin.display(description="pull request", ordering="number")
    def number_link(self, pr: PullRequest) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}#{}</a>', pr.url, pr.repository, pr.number
        )

    @admin.display(description="state", ordering="state")
    def state_badge(self, pr: PullRequest) -> str:
        return badge(pr.state)

    @admin.display(description="checks", ordering="checks")
    def checks_badge(self, pr: PullRequest) -> str:
        return badge(pr.checks)


# --- Which model each step uses ------------------------------------------------------------------


class StepConfigForm(forms.ModelForm):
    class Meta:
        model = StepConfig
        fields = ["step", "model_name", "max_tokens", "batch", "reasoning_effort"]

    def clean_model_name(self) -> str:
        name = self.cleaned_data["model_name"].strip()
        try:
            lookup_model(name)
        except PricingError as exc:
            raise forms.ValidationError(str(exc)) from None
        return name


@admin.register(StepConfig)
class StepConfigAdmin(admin.ModelAdmin):
    form = StepConfigForm
    list_display = ["step", "model_name", "max_tokens", "batch", "reasoning_effort", "updated_at"]


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    """Vendor batches (batch mode): the ones in flight first. Written only by ``run_batches``."""

    list_display = ["pk", "step", "provider", "status", "refused", "vendor_status", "request_count", "polls",
                    "model", "created_at", "ended_at"]  # fmt: skip
    list_filter = ["status", "refused", "step", "provider", "simulated"]
    search_fields = ["vendor_batch_id"]
    readonly_fields = [
        "step", "new_tasks", "provider", "status", "refused", "vendor_batch_id", "vendor_status", "simulated",
        "model", "requested_model", "price", "max_tokens", "request_count", "polls", "lease_until", "error",
        "created_at", "submitted_at", "ended_at",
    ]  # fmt: skip


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    """Follow-up commits asked of the product's pull requests (failed checks, a review, a comment,
    ``manage.py revise``): queued, run as executions of their task, done, failed or cancelled."""

    list_display = ["pk", "where", "task", "kind", "status_badge", "attempts", "restarted", "created_at",
                    "finished_at"]  # fmt: skip
    list_filter = ["status", "kind", "restarted"]
    search_fields = ["task__title", "branch", "key", "commit_sha"]
    list_select_related = ["task", "pull_request"]
    readonly_fields = [
        "task", "pull_request", "branch", "kind", "key", "status_badge", "attempts", "restarted", "source",
        "feedback", "commit_sha", "error", "cost", "created_at", "claimed_at", "finished_at",
    ]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="pull request or branch")
    def where(self, revision: Revision) -> str:
        return lifecycle.label(revision)

    @admin.display(description="status", ordering="status")
    def status_badge(self, revision: Revision) -> str:
        return badge(revision.status)

    @admin.display(description="cost of its runs")
    def cost(self, revision: Revision) -> str:
        return format_usd(sum(revision.executions.values_list("cost_nanos", flat=True)))


@admin.register(IssueComment)
class IssueCommentAdmin(ReadOnlyAdmin):
    """Comments owed to GitHub issues (a task's PR opened, a task failed for good): posted right
    after the fact, retried by the ``sync-issues`` schedule; ``failed`` ones gave up."""

    list_display = ["pk", "where", "task", "status_badge", "attempts", "created_at", "posted_at"]
    list_filter = ["status", "repository"]
    search_fields = ["key", "body", "error"]
    list_select_related = ["repository", "task"]
    readonly_fields = [
        "repository", "number", "task", "key", "body", "status", "attempts", "due_at", "comment_id", "error",
        "created_at", "posted_at",
    ]  # fmt: skip

    @admin.display(description="issue")
    def where(self, comment: IssueComment) -> str:
        return f"{comment.repository.name}#{comment.number}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, comment: IssueComment) -> str:
        return badge(comment.status)


class BacktestCaseInline(admin.TabularInline):
    model = BacktestCase
    extra = 0
    can_delete = False
    fields = [
        "position",
        "real_pull_request",
        "title",
        "files_shown_of",
        "signatures_of",
        "bodies_of",
        "prompt_bytes",
    ]
    readonly_fields = fields

    @admin.display(description="pull request")
    def real_pull_request(self, case: BacktestCase) -> str:
        return case_link(case)

    @admin.display(description="files shown")
    def files_shown_of(self, case: BacktestCase) -> str:
        return f"{case.files_shown}/{case.files}"

    @admin.display(description="signatures")
    def signatures_of(self, case: BacktestCase) -> str:
        return f"{case.signatures_shown}/{case.definitions}"

    @admin.display(description="bodies")
    def bodies_of(self, case: BacktestCase) -> str:
        return f"{case.bodies_shown}/{case.definitions}"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def case_link(case: BacktestCase) -> str:
    """The real pull request (GitHub), else the merge commit's sha."""
    label = f"#{case.number}" if case.number else case.merge_sha[:12]
    return format_html('<a href="{}">{}</a>', case.url, label) if case.url else label


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    """Stored ``manage.py backtest`` runs: the headline figures, and each case below."""

    list_display = ["pk", "repository", "mode", "status", "started_at", "cases_count", "file_recall",
                    "definition_recall", "body_recall", "applied", "overlap", "cost"]  # fmt: skip
    list_filter = ["repository", "mode", "status"]
    inlines = [BacktestCaseInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("repository").annotate(n_cases=Count("cases"))

    @admin.display(description="cases")
    def cases_count(self, run: BacktestRun) -> int:
        return run.n_cases

    @admin.display(description="file recall")
    def file_recall(self, run: BacktestRun) -> str:
        return share(run.files_shown, run.files)

    @admin.display(description="definition recall")
    def definition_recall(self, run: BacktestRun) -> str:
        return share(run.signatures_shown, run.definitions)

    @admin.display(description="body recall")
    def body_recall(self, run: BacktestRun) -> str:
        return share(run.bodies_shown, run.definitions)

    @admin.display(description="applied")
    def applied(self, run: BacktestRun) -> str:
        if run.mode != BacktestRun.Mode.MODELS:
            return "—"
        return share(run.applied_first_try + run.applied_after_retry, run.n_cases)

    @admin.display(description="overlap")
    def overlap(self, run: BacktestRun) -> str:
        """The real files the produced changes touched."""
        return share(run.file_hits, run.files) if run.mode == BacktestRun.Mode.MODELS else "—"

    @admin.display(description="cost")
    def cost(self, run: BacktestRun) -> str:
        return format_usd(run.cost_nanos)


@admin.register(BacktestCase)
class BacktestCaseAdmin(ReadOnlyAdmin):
    """One replayed pull request: its task, what the prompt held of the real change, and in model
    mode the change the product produced beside the real one."""

    list_display = ["pk", "run", "position", "real_pull_request", "title", "files_shown", "files", "bodies_shown",
                    "applied", "cost"]  # fmt: skip
    list_filter = ["run__repository", "applied"]
    readonly_fields = ["real_pull_request", "execution_link", "diffs"]
    exclude = ["real_diff", "execution"]

    @admin.display(description="pull request")
    def real_pull_request(self, case: BacktestCase) -> str:
        return case_link(case)

    @admin.display(description="execution (model mode)")
    def execution_link(self, case: BacktestCase) -> str:
        if case.execution_id is None:
            return "—"
        url = reverse("admin:executions_execution_change", args=[case.execution_id])
        return format_html('<a href="{}">execution {}</a>', url, case.execution_id)

    @admin.display(description="the real change, and the one the product produced")
    def diffs(self, case: BacktestCase) -> str:
        produced = case.execution.diff if case.execution_id else ""
        return format_html(
            '<table style="width:100%"><tr><th>real</th><th>produced</th></tr><tr>'
            '<td style="vertical-align:top;width:50%"><pre style="white-space:pre-wrap">{}</pre></td>'
            '<td style="vertical-align:top;width:50%"><pre style="white-space:pre-wrap">{}</pre></td></tr></table>',
            case.real_diff or "—",
            produced or ("no change applied" if case.execution_id else "context mode: nothing produced"),
        )

    @admin.display(description="cost")
    def cost(self, case: BacktestCase) -> str:
        return format_usd(case.cost_nanos)
