"""The outbox: events written in the same transaction as the change that caused them."""

from django.db import models


class Event(models.Model):
    class Kind(models.TextChoices):
        EXECUTION_STARTED = "execution_started"
        EXECUTION_COMPLETED = "execution_completed"
        EXECUTION_FAILED = "execution_failed"
        MILESTONE_REACHED = "milestone_reached"
        BUDGET_EXHAUSTED = "budget_exhausted"
        MONTHLY_RECAP = "monthly_recap"
        MODEL_RETIRING = "model_retiring"
        MODEL_SWITCHED = "model_switched"
        ERROR = "error"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True, help_text="De-duplication key.")
    payload = models.JSONField(default=dict, help_text="The facts at the time of the event.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.key})"
