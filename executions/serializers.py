"""JSON shapes of executions, their model calls and tasks. Money is a decimal string in dollars."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from budget.money import dollars_str
from executions.models import Execution, ModelCall, PullRequest, Repository, Task


@extend_schema_field({"type": "string", "description": "Decimal string in US dollars, e.g. '0.031275'."})
class DollarsField(serializers.Field):
    """Integer nanodollars rendered as a decimal string in dollars (read-only)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: int) -> str:
        return dollars_str(int(value))


class ModelCallSerializer(serializers.ModelSerializer):
    cost = DollarsField(source="cost_nanos", help_text="What this call was charged.")

    class Meta:
        model = ModelCall
        fields = [
            "id", "step", "try_number", "failure", "provider", "requested_model", "model", "input_tokens",
            "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
            "reasoning_tokens", "cost", "request_id", "duration_ms", "simulated", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    task_title = serializers.CharField(source="task.title", read_only=True, help_text="The task's title.")
    month = serializers.SerializerMethodField(help_text="The budget period's month, YYYY-MM.")
    cost = DollarsField(source="cost_nanos", help_text="Sum of this execution's charged calls.")
    reserved = DollarsField(source="reserved_nanos", help_text="The worst case held when it started.")
    pr_url = serializers.SerializerMethodField(help_text="The pull request's web address; null without one.")

    class Meta:
        model = Execution
        fields = [
            "id", "task", "task_title", "month", "status", "simulated", "batched", "batch", "revision", "publisher",
            "branch", "commit_sha", "pr_number", "pr_url", "cost", "reserved", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        extra_kwargs = {
            "revision": {
                "help_text": "The revision it ran (a follow-up commit on its pull request); null otherwise."
            }
        }
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_month(self, execution: Execution) -> str:
        return f"{execution.period.month:%Y-%m}"

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_pr_url(self, execution: Execution) -> str | None:
        return execution.pr_url or None


class ExecutionDetailSerializer(ExecutionSerializer):
    files = serializers.SerializerMethodField(help_text="Paths of the files the generated change wrote.")
    calls = ModelCallSerializer(many=True, read_only=True, help_text="The paid model calls, oldest first.")

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "plan", "summary", "files", "calls"]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_files(self, execution: Execution) -> list[str]:
        change = execution.change or {}
        return [f.get("path", "") for f in change.get("files", []) if isinstance(f, dict)]


class TaskSerializer(serializers.ModelSerializer):
    repository = serializers.CharField(
        source="repository.name", read_only=True, help_text="Where its change goes: owner/name, or a path."
    )
    issue_number = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The GitHub issue it came from; null otherwise."
    )

    class Meta:
        model = Task
        fields = [
            "id", "title", "description", "status", "priority", "repository", "issue_number", "source",
            "source_key", "attempts", "max_attempts", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class TaskCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, help_text="What to do, in one line.")
    description = serializers.CharField(required=False, allow_blank=True, default="", help_text="Details.")
    priority = serializers.IntegerField(
        required=False, default=0, min_value=-1000, max_value=1000, help_text="Higher runs first."
    )
    repository = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Repository.objects.all(),
        required=False,
        help_text="Where its change goes (owner/name, or a local repository's path); by default the "
        "one the settings name.",
    )

    def validate_title(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("a task needs a title")
        return value.strip()


class TaskQueuedSerializer(serializers.Serializer):
    task = serializers.IntegerField(help_text="The task's id.")
    queued = serializers.CharField(help_text="The django-q2 task id of the queued execution.")


class PullRequestSerializer(serializers.ModelSerializer):
    task_title = serializers.CharField(source="task.title", read_only=True, help_text="Its task's title.")
    revisions = serializers.IntegerField(
        source="revision_count",
        read_only=True,
        help_text="Follow-up commits made on it (revisions that succeeded).",
    )
    cost = DollarsField(
        source="total_cost_nanos",
        help_text="What it has cost: the execution that opened it and every run of its revisions.",
    )

    class Meta:
        model = PullRequest
        fields = [
            "id", "repository", "number", "url", "task", "task_title", "state", "checks", "head_branch", "head_sha",
            "revisions", "cost", "opened_at", "merged_at", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields
