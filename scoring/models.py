from django.conf import settings
from django.db import models
from django.db.models import Q

from leads.models import IdealCustomerProfile, Interaction, Lead


class ScoringModel(models.Model):
    """A versioned scoring model: ICP + engagement rules + MQL thresholds, as engine data.

    `definition` is the dict scoring/engine.py reads (model_from_dict). A draft is edited freely;
    activating it freezes it (its ICP is copied in), retires the previous active model and
    rescores every lead. Exactly one model is active, enforced by a partial unique index.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=120)
    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    definition = models.JSONField()
    based_on_icp = models.ForeignKey(
        IdealCustomerProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="one_active_scoring_model"
            ),
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"


class ScoreChange(models.Model):
    """The append-only score ledger: every change of a lead's score, rule by rule."""

    class Cause(models.TextChoices):
        ACTIVITY = "activity", "New activity or lead data"
        MODEL = "model", "Scoring model activated"
        DECAY = "decay", "Decay over time"
        SWEEP = "sweep", "Recovered by the sweeper"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_changes")
    model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField()
    cause = models.CharField(max_length=10, choices=Cause.choices)
    # "fit" criteria, "engagement" rules, or "total" (one row per rescore that changed the score)
    kind = models.CharField(max_length=12)
    rule_key = models.CharField(max_length=80, blank=True)
    label = models.CharField(max_length=200, blank=True)
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    points = models.FloatField(help_text="change in points from this rule")
    value_after = models.FloatField(help_text="this rule's points (or the score) after the change")
    score_after = models.IntegerField()
    fit_grade_after = models.CharField(max_length=1)
    engagement_after = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["lead", "-computed_at", "-id"], name="scorechange_lead_time")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} {self.kind} {self.rule_key} {self.points:+}"


class RescoreJob(models.Model):
    """A full rescore after activation, run in chunks by a Celery task, with visible progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="rescore_jobs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    promoted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rescore for {self.model} {self.done}/{self.total}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))


class RescoreChunk(models.Model):
    """One id range of a RescoreJob, scored by one task; done_at makes a redelivered task a no-op."""

    job = models.ForeignKey(RescoreJob, on_delete=models.CASCADE, related_name="chunks")
    first_lead_id = models.BigIntegerField()
    last_lead_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job"], name="rescorechunk_open", condition=Q(done_at__isnull=True))]

    def __str__(self) -> str:
        return f"job {self.job_id} leads {self.first_lead_id}-{self.last_lead_id}"


class PredictiveModel(models.Model):
    """One training run of the predictive model and, when it is good enough, the model itself.

    A row is created when training is asked for (status "queued"), and ends "active" (its
    probabilities are on the leads), "rejected" (trained, but worse than the active one on
    held-out AUC: kept for the record, never used), "failed" (e.g. too few outcomes: `message`
    says how many more are needed) or, later, "retired" (replaced by a newer active model).
    At most one is active, enforced by a partial unique index.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        READY = "ready", "Trained, not active"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected (worse than the active model)"
        FAILED = "failed", "Failed"
        RETIRED = "retired", "Retired"

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    force = models.BooleanField(default=False, help_text="activate even if worse than the active model")
    trigger = models.CharField(max_length=20, default="manual", help_text="manual, api or schedule")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    feature_names = models.JSONField(default=list, blank=True)
    trained_on = models.PositiveIntegerField(default=0, help_text="labelled leads in the training split")
    # The fitted scoring.predictive.ConversionModel, pickled by joblib. Trust boundary: loading a
    # pickle runs code, so only this column is ever unpickled, and only this app's training
    # task writes it. Never fill it from an upload or an API payload; whoever can write this
    # table can already run code as the worker.
    artifact = models.BinaryField(null=True, blank=True, editable=False)
    leads_scored = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True, help_text="when every lead had been scored")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="one_active_predictive_model"
            ),
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"predictive v{self.version} ({self.status})"

    @property
    def auc(self) -> float | None:
        return (self.metrics or {}).get("auc")


class LeadPrediction(models.Model):
    """A lead's conversion probability and its top factors, from the model that computed them.

    The probability is also cached on Lead.conversion_probability, for filtering and sorting.
    """

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="prediction")
    model = models.ForeignKey(PredictiveModel, on_delete=models.CASCADE, related_name="predictions")
    probability = models.FloatField()
    # {"plus": [{"feature", "label", "weight"}], "minus": [...]}, weight in log-odds
    factors = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["model"], name="leadprediction_model")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.probability:.0%}"
