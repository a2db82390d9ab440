"""The executions app's schema and seed as of 0011, in one migration (``squashmigrations`` by hand).

A new database runs this instead of the eleven it replaces; a database that has run them goes on
from 0011 as before. Keep the replaced files until a release has shipped this one.

The seed, for a new install: the first repository (``GITHUB_REPOSITORY`` when GitHub is
configured, else ``LOCAL_REPO_PATH``), and each step on the seed's model or, when the catalog says
that model has retired by the day the database is made, on its priced successor: a new install
starts on models that are live (the seed's Claude Sonnet 4.5 retired on 2026-11-30). An existing
install keeps the steps it has, and the warning that a retired one is replaced.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

import executions.models

# The seed's pipeline: Claude Sonnet 4.5 analyses, GPT-4o mini writes the code.
STEPS = [("analysis", "claude-sonnet-4-5", 2048), ("codegen", "gpt-4o-mini", 8192)]


def live_model(LanguageModel, name, today):
    """``name``, or the successor the catalog names for it once it has retired, and so on."""
    model = LanguageModel.objects.filter(name=name).first()
    seen = set()
    while model is not None and model.retires_on and model.retires_on <= today and model.successor_id:
        if model.pk in seen:  # a loop in the catalog: keep what it was
            break
        seen.add(model.pk)
        successor = LanguageModel.objects.get(pk=model.successor_id)
        if not successor.prices.exists():
            break  # no price, no call: a successor without one is not live here
        model = successor
    return model.name if model is not None else name


def seed(apps, schema_editor):
    from django.conf import settings

    LanguageModel = apps.get_model("budget", "LanguageModel")
    StepConfig = apps.get_model("executions", "StepConfig")
    Repository = apps.get_model("executions", "Repository")
    today = timezone.localdate()
    for step, model_name, max_tokens in STEPS:
        StepConfig.objects.get_or_create(
            step=step,
            defaults={"model_name": live_model(LanguageModel, model_name, today), "max_tokens": max_tokens},
        )
    github = settings.GITHUB_REPOSITORY.strip()
    if github and (settings.GITHUB_TOKEN or settings.GITHUB_APP_ID):
        fields = {"kind": "github", "name": github, "base_branch": settings.GITHUB_BASE_BRANCH.strip()}
    else:
        fields = {"kind": "local", "name": str(settings.LOCAL_REPO_PATH), "base_branch": ""}
    Repository.objects.get_or_create(
        name=fields.pop("name"), defaults={**fields, "pr_labels": settings.GITHUB_PR_LABEL}
    )


class Migration(migrations.Migration):
    replaces = [
        ("executions", "0001_initial"),
        ("executions", "0002_seed_steps"),
        ("executions", "0003_batch_mode"),
        ("executions", "0004_step_reasoning_effort_and_reasoning_tokens"),
        ("executions", "0005_pull_requests"),
        ("executions", "0006_execution_plan_files_and_diff"),
        ("executions", "0007_charge_once_per_vendor_result"),
        ("executions", "0008_repositories"),
        ("executions", "0009_execution_plan_definitions"),
        ("executions", "0010_model_call_try_number_and_failure"),
        ("executions", "0011_revisions"),
    ]

    initial = True

    dependencies = [("budget", "0013_period_pr_outcomes")]

    operations = [
        migrations.CreateModel(
            name="Repository",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("github", "GitHub"), ("local", "local git")], default="github", max_length=6
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="owner/name on GitHub; the path of the git repository on this machine for local git.",
                        max_length=500,
                        unique=True,
                    ),
                ),
                (
                    "base_branch",
                    models.CharField(
                        blank=True,
                        help_text="The branch pull requests target. Empty: the default branch.",
                        max_length=255,
                    ),
                ),
                (
                    "enabled",
                    models.BooleanField(
                        default=True, help_text="Off: its tasks wait and its issues are not read."
                    ),
                ),
                (
                    "pr_labels",
                    models.CharField(
                        blank=True,
                        help_text="Labels for its pull requests, comma-separated (created if missing).",
                        max_length=500,
                    ),
                ),
                (
                    "problem",
                    models.TextField(
                        blank=True,
                        help_text="Why its tasks wait: what GitHub answered (404 or 403). Cleared when GitHub answers again (the issue poll checks it, or the admin action 'Check access now').",
                    ),
                ),
                ("problem_at", models.DateTimeField(blank=True, null=True)),
                (
                    "issues_since",
                    models.DateTimeField(
                        blank=True,
                        help_text="The last issue update the poll has seen (GitHub's clock).",
                        null=True,
                    ),
                ),
                (
                    "issues_etag",
                    models.CharField(
                        blank=True, help_text="For conditional polling requests.", max_length=200
                    ),
                ),
                (
                    "issues_synced_at",
                    models.DateTimeField(
                        blank=True, help_text="Its issues were last polled then.", null=True
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name_plural": "repositories",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="WebhookDelivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("delivery_id", models.CharField(max_length=100, unique=True)),
                ("event", models.CharField(max_length=50)),
                ("received_at", models.DateTimeField()),
            ],
            options={
                "verbose_name_plural": "webhook deliveries",
                "ordering": ["-received_at"],
            },
        ),
        migrations.CreateModel(
            name="Batch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "step",
                    models.CharField(
                        choices=[("analysis", "Analysis"), ("codegen", "Codegen")], max_length=10
                    ),
                ),
                (
                    "new_tasks",
                    models.BooleanField(
                        default=True,
                        help_text="Claimed pending tasks (the first batch step), rather than continuing executions.",
                    ),
                ),
                (
                    "provider",
                    models.CharField(
                        choices=[("anthropic", "Anthropic"), ("openai", "OpenAI")], max_length=20
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("submitting", "Submitting"),
                            ("in_progress", "In Progress"),
                            ("ended", "Ended"),
                            ("failed", "Failed"),
                        ],
                        default="submitting",
                        max_length=12,
                    ),
                ),
                ("vendor_batch_id", models.CharField(blank=True, max_length=200)),
                (
                    "vendor_status",
                    models.CharField(blank=True, help_text="As the vendor last reported it.", max_length=30),
                ),
                ("simulated", models.BooleanField(default=False)),
                ("requested_model", models.CharField(max_length=100)),
                ("model", models.CharField(max_length=100)),
                ("max_tokens", models.PositiveIntegerField()),
                ("request_count", models.PositiveIntegerField(default=0)),
                (
                    "refused",
                    models.BooleanField(
                        default=False,
                        help_text="The vendor refused the whole batch (a configuration problem): its tasks kept their attempts.",
                    ),
                ),
                ("polls", models.PositiveIntegerField(default=0)),
                (
                    "lease_until",
                    models.DateTimeField(help_text="A pass working on the row holds it until then."),
                ),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField()),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "price",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="batches", to="budget.price"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "batches",
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="Execution",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("reserved", "Reserved"),
                            ("analysing", "Analysing"),
                            ("generating", "Generating"),
                            ("publishing", "Publishing"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("abandoned", "Abandoned"),
                        ],
                        default="reserved",
                        max_length=12,
                    ),
                ),
                ("simulated", models.BooleanField(default=False)),
                ("plan", models.TextField(blank=True)),
                (
                    "plan_files",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="The existing files the plan named; the coder saw their content.",
                    ),
                ),
                (
                    "plan_definitions",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="The definitions the plan named to change or read (file::Qualified.name): a file too large to show whole was shown to the coder as an excerpt holding them.",
                    ),
                ),
                (
                    "plan_notes",
                    models.TextField(blank=True, help_text="What was dropped from the plan (unknown paths)."),
                ),
                (
                    "change",
                    models.JSONField(blank=True, help_text="The validated generated change.", null=True),
                ),
                (
                    "diff",
                    models.TextField(
                        blank=True, help_text="The applied change as a unified diff against its base."
                    ),
                ),
                (
                    "base_sha",
                    models.CharField(
                        blank=True,
                        help_text="The commit the models were shown and the change was made on.",
                        max_length=64,
                    ),
                ),
                ("summary", models.TextField(blank=True)),
                ("publisher", models.CharField(blank=True, help_text="local-git or github", max_length=20)),
                ("branch", models.CharField(blank=True, max_length=255)),
                ("commit_sha", models.CharField(blank=True, max_length=64)),
                ("pr_number", models.PositiveIntegerField(blank=True, null=True)),
                ("pr_url", models.URLField(blank=True, max_length=500)),
                (
                    "batched",
                    models.BooleanField(
                        default=False, help_text="A step of it ran through a vendor's batch API."
                    ),
                ),
                (
                    "reserved_nanos",
                    models.BigIntegerField(default=0, help_text="The worst case held at the start."),
                ),
                (
                    "cost_nanos",
                    models.BigIntegerField(default=0, help_text="Sum of this execution's call costs."),
                ),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                (
                    "heartbeat_at",
                    models.DateTimeField(blank=True, help_text="Last recorded progress.", null=True),
                ),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "batch",
                    models.ForeignKey(
                        blank=True,
                        help_text="The vendor batch this execution is (or last was) in; none once it left its batch to go on synchronously (batch mode). Its calls keep the batch they came from.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="executions",
                        to="executions.batch",
                    ),
                ),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="executions",
                        to="budget.period",
                    ),
                ),
                (
                    "reservation",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="execution",
                        to="budget.reservation",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="ModelCall",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "step",
                    models.CharField(
                        choices=[("analysis", "Analysis"), ("codegen", "Codegen")], max_length=10
                    ),
                ),
                (
                    "provider",
                    models.CharField(
                        choices=[("anthropic", "Anthropic"), ("openai", "OpenAI")], max_length=20
                    ),
                ),
                ("requested_model", models.CharField(max_length=100)),
                ("model", models.CharField(help_text="The model actually used.", max_length=100)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("cache_read_tokens", models.BigIntegerField(default=0)),
                ("cache_write_5m_tokens", models.BigIntegerField(default=0)),
                ("cache_write_1h_tokens", models.BigIntegerField(default=0)),
                (
                    "reasoning_tokens",
                    models.BigIntegerField(
                        default=0,
                        help_text="Of the output tokens, those the model spent reasoning (charged as output).",
                    ),
                ),
                ("cost_nanos", models.BigIntegerField()),
                (
                    "standard_cost_nanos",
                    models.BigIntegerField(
                        blank=True,
                        help_text="What the call would have cost at the standard price (batch calls).",
                        null=True,
                    ),
                ),
                ("request_id", models.CharField(blank=True, max_length=200)),
                (
                    "result_key",
                    models.CharField(
                        blank=True,
                        help_text="The vendor result this call charges (a batch's: '<vendor batch id>/<custom id>'); one execution's step is charged once per result, however many passes read it.",
                        max_length=200,
                    ),
                ),
                ("duration_ms", models.PositiveIntegerField(default=0)),
                ("simulated", models.BooleanField(default=False)),
                (
                    "try_number",
                    models.PositiveSmallIntegerField(
                        default=1,
                        help_text="Which try of its step this call was (the coder is asked again when an answer fails).",
                    ),
                ),
                (
                    "failure",
                    models.TextField(
                        blank=True,
                        help_text="Why this call's answer could not be used (parse, apply or syntax), one line each.",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "batch",
                    models.ForeignKey(
                        blank=True,
                        help_text="The vendor batch this call went through (charged at the batch price).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="calls",
                        to="executions.batch",
                    ),
                ),
                (
                    "execution",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="calls",
                        to="executions.execution",
                    ),
                ),
                (
                    "price",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="calls", to="budget.price"
                    ),
                ),
            ],
            options={
                "ordering": ["created_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="PullRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("repository", models.CharField(help_text="owner/name", max_length=200)),
                ("number", models.PositiveIntegerField()),
                ("url", models.URLField(max_length=500)),
                ("head_branch", models.CharField(max_length=255)),
                ("head_sha", models.CharField(max_length=64)),
                (
                    "state",
                    models.CharField(
                        choices=[("open", "Open"), ("merged", "Merged"), ("closed", "Closed")],
                        default="open",
                        max_length=6,
                    ),
                ),
                (
                    "checks",
                    models.CharField(
                        choices=[
                            ("none", "None"),
                            ("pending", "Pending"),
                            ("success", "Success"),
                            ("failure", "Failure"),
                        ],
                        default="none",
                        help_text="Combined, on the head commit.",
                        max_length=7,
                    ),
                ),
                (
                    "check_results",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Each check's last result on the head commit, by name.",
                    ),
                ),
                ("opened_at", models.DateTimeField()),
                ("merged_at", models.DateTimeField(blank=True, null=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "etag",
                    models.CharField(
                        blank=True, help_text="For conditional polling requests.", max_length=200
                    ),
                ),
                (
                    "synced_at",
                    models.DateTimeField(blank=True, help_text="Last refreshed from GitHub.", null=True),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "execution",
                    models.ForeignKey(
                        help_text="The one that opened it.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="pull_requests",
                        to="executions.execution",
                    ),
                ),
            ],
            options={
                "ordering": ["-opened_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="RepositoryUsage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("spent_nanos", models.BigIntegerField(default=0)),
                ("executions", models.PositiveIntegerField(default=0)),
                ("prs", models.PositiveIntegerField(default=0, help_text="Pull requests opened.")),
                ("merged_prs", models.PositiveIntegerField(default=0)),
                (
                    "period",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="repository_usage",
                        to="budget.period",
                    ),
                ),
                (
                    "repository",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage",
                        to="executions.repository",
                    ),
                ),
            ],
            options={
                "ordering": ["period", "repository"],
            },
        ),
        migrations.CreateModel(
            name="Revision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("branch", models.CharField(help_text="The branch its commit goes on.", max_length=255)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("checks", "failed checks"),
                            ("review", "Review"),
                            ("comment", "Comment"),
                            ("command", "command line"),
                        ],
                        max_length=8,
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="The feedback that asked for it.", max_length=200, unique=True
                    ),
                ),
                (
                    "source",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Where the feedback is: a commit, a review, a comment, its author.",
                    ),
                ),
                (
                    "feedback",
                    models.JSONField(
                        blank=True,
                        help_text="What the analyst was shown of it (read once, before the first run).",
                        null=True,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=9,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                (
                    "restarted",
                    models.BooleanField(
                        default=False,
                        help_text="Its branch moved while it ran, and it started again from the new head.",
                    ),
                ),
                (
                    "branch_moved_to",
                    models.CharField(
                        blank=True,
                        help_text="Where the branch had moved when its last run tried to commit.",
                        max_length=64,
                    ),
                ),
                (
                    "commit_sha",
                    models.CharField(blank=True, help_text="The follow-up commit.", max_length=64),
                ),
                ("error", models.TextField(blank=True)),
                (
                    "created_at",
                    models.DateTimeField(help_text="When it was queued: its age among pending work."),
                ),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "pull_request",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="revisions",
                        to="executions.pullrequest",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.AddField(
            model_name="execution",
            name="revision",
            field=models.ForeignKey(
                blank=True,
                help_text="The revision it ran: a follow-up commit on its task's pull request (or branch).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="executions",
                to="executions.revision",
            ),
        ),
        migrations.CreateModel(
            name="StepConfig",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "step",
                    models.CharField(
                        choices=[("analysis", "Analysis"), ("codegen", "Codegen")], max_length=10, unique=True
                    ),
                ),
                ("model_name", models.CharField(help_text="A model id from the catalog.", max_length=100)),
                ("max_tokens", models.PositiveIntegerField()),
                (
                    "batch",
                    models.BooleanField(
                        blank=True,
                        help_text="Run this step through the vendor's batch API at its batch price (results within 24 h). Empty: follow the LLM_BATCH setting.",
                        null=True,
                    ),
                ),
                (
                    "reasoning_effort",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("none", "None"),
                            ("low", "Low"),
                            ("medium", "Medium"),
                            ("high", "High"),
                            ("xhigh", "Xhigh"),
                            ("max", "Max"),
                        ],
                        default="low",
                        help_text="Sent to reasoning models only (gpt-6-luna). Reasoning tokens are billed as output and count against max tokens; temperature is sent only with 'none'. Blank: the vendor's default.",
                        max_length=10,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["step"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("max_tokens__gt", 0)), name="max_tokens_positive"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Task",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=300)),
                ("description", models.TextField(blank=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("skipped", "Skipped"),
                            ("rejected", "Rejected"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("priority", models.IntegerField(default=0, help_text="Higher runs first.")),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("manual", "Manual"),
                            ("file", "File"),
                            ("repository", "Repository"),
                            ("api", "Api"),
                            ("github_issue", "GitHub issue"),
                        ],
                        default="manual",
                        max_length=12,
                    ),
                ),
                (
                    "source_key",
                    models.CharField(
                        blank=True,
                        help_text="De-duplication key: importing the same item twice keeps one task.",
                        max_length=200,
                        null=True,
                        unique=True,
                    ),
                ),
                (
                    "issue_number",
                    models.PositiveIntegerField(blank=True, help_text="Its GitHub issue.", null=True),
                ),
                (
                    "issue_state",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("open", "Open"),
                            ("closed", "Closed"),
                            ("unlabeled", "Unlabeled"),
                            ("deleted", "Deleted"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "issue_updated_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The issue's updated_at when the task last followed it.",
                        null=True,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("max_attempts", models.PositiveIntegerField(default=3)),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "repository",
                    models.ForeignKey(
                        default=executions.models.default_repository_id,
                        help_text="Where its change goes. Fixed once it has run.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tasks",
                        to="executions.repository",
                    ),
                ),
            ],
            options={
                "ordering": ["-priority", "created_at"],
            },
        ),
        migrations.AddField(
            model_name="revision",
            name="task",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="revisions", to="executions.task"
            ),
        ),
        migrations.AddField(
            model_name="pullrequest",
            name="task",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="pull_requests",
                to="executions.task",
            ),
        ),
        migrations.CreateModel(
            name="IssueComment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "number",
                    models.PositiveIntegerField(help_text="The issue (or pull request) it is posted on."),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="What it reports: one comment per fact.", max_length=100, unique=True
                    ),
                ),
                ("body", models.TextField()),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("posted", "Posted"), ("failed", "Failed")],
                        default="pending",
                        max_length=7,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                (
                    "due_at",
                    models.DateTimeField(help_text="When it is next tried (a poster holds it until then)."),
                ),
                (
                    "comment_id",
                    models.BigIntegerField(
                        blank=True, help_text="GitHub's id of the posted comment.", null=True
                    ),
                ),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField()),
                ("posted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "repository",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="issue_comments",
                        to="executions.repository",
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="issue_comments",
                        to="executions.task",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.AddField(
            model_name="execution",
            name="task",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="executions", to="executions.task"
            ),
        ),
        migrations.AddConstraint(
            model_name="batch",
            constraint=models.UniqueConstraint(
                condition=models.Q(("new_tasks", True), ("status", "submitting")),
                fields=("new_tasks",),
                name="one_batch_of_new_tasks_submitting",
            ),
        ),
        migrations.AddConstraint(
            model_name="modelcall",
            constraint=models.UniqueConstraint(
                condition=models.Q(("result_key", ""), _negated=True),
                fields=("execution", "step", "result_key"),
                name="one_charge_per_vendor_result",
            ),
        ),
        migrations.AddConstraint(
            model_name="repositoryusage",
            constraint=models.UniqueConstraint(
                fields=("period", "repository"), name="one_usage_row_per_repository"
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["status", "-priority", "created_at"], name="executions__status_5a6c55_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="revision",
            index=models.Index(fields=["status", "created_at"], name="executions__status_fa273f_idx"),
        ),
        migrations.AddIndex(
            model_name="pullrequest",
            index=models.Index(fields=["state"], name="executions__state_fc4001_idx"),
        ),
        migrations.AddIndex(
            model_name="pullrequest",
            index=models.Index(fields=["head_sha"], name="executions__head_sh_e51759_idx"),
        ),
        migrations.AddConstraint(
            model_name="pullrequest",
            constraint=models.UniqueConstraint(
                fields=("repository", "number"), name="one_row_per_pull_request"
            ),
        ),
        migrations.AddIndex(
            model_name="issuecomment",
            index=models.Index(fields=["status", "due_at"], name="executions__status_2a9550_idx"),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(fields=["status", "heartbeat_at"], name="executions__status_cacc52_idx"),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(fields=["period", "-created_at"], name="executions__period__e604e3_idx"),
        ),
        migrations.AddConstraint(
            model_name="execution",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["reserved", "analysing", "generating", "publishing"])),
                fields=("task",),
                name="one_active_execution_per_task",
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
