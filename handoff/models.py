from django.conf import settings
from django.db import models

from leads.models import Lead
from leads.vocabulary import Stage


class StageChange(models.Model):
    """The audit trail: one row per transition, written in the transaction that changes the stage."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    action = models.CharField(max_length=20)
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted when it was not a person: "scoring engine", "routing", "api:website-forms".
    actor_label = models.CharField(max_length=120, blank=True)
    reason = models.CharField(max_length=60, blank=True)
    note = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # For promotions: the score that crossed the threshold, and the model version that gave it.
    score = models.IntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["lead", "-created_at", "-id"], name="stagechange_lead_time"),
            models.Index(fields=["to_stage", "created_at"], name="stagechange_to_time"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage} → {self.to_stage} ({self.action})"
