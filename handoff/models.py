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


class SalesTeam(models.Model):
    """Working hours and SLA limits for a team of SDRs."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    workdays = models.JSONField(
        default=list, blank=True, help_text="0 = Monday … 6 = Sunday; empty = Mon-Fri"
    )
    day_start = models.TimeField(default="09:00")
    day_end = models.TimeField(default="17:00")
    holidays = models.JSONField(default=list, blank=True, help_text='["2026-12-25", …]')
    accept_within_hours = models.FloatField(default=4, help_text="business hours to accept or reject")
    escalate_after_hours = models.FloatField(default=8, help_text="business hours before escalation")
    reassign_on_escalation = models.BooleanField(default=False)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name

    def schedule(self):
        from datetime import date

        from .sla import Schedule

        return Schedule(
            timezone=self.timezone,
            workdays=frozenset(self.workdays or [0, 1, 2, 3, 4]),
            start=self.day_start,
            end=self.day_end,
            holidays=frozenset(date.fromisoformat(d) for d in self.holidays or []),
        )


class SdrProfile(models.Model):
    """Routing settings of one SDR: availability, capacity, weight and territory."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sdr_profile"
    )
    team = models.ForeignKey(SalesTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="sdrs")
    is_active = models.BooleanField(default=True)
    out_of_office_until = models.DateField(null=True, blank=True)
    capacity = models.PositiveIntegerField(
        default=50, help_text="most open leads (handed off or SAL) at once"
    )
    weight = models.PositiveIntegerField(default=1, help_text="2 = twice the share of new leads")
    countries = models.JSONField(
        default=list, blank=True, help_text='territory, e.g. ["DE", "AT"]; empty = any'
    )
    segments = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. ["enterprise"] (1000+), ["mid_market"], ["smb"]; empty = any',
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"SDR {self.user}"


class Assignment(models.Model):
    """Every hand-off to an SDR, with its SLA clock and how it ended."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for the SDR"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        REASSIGNED = "reassigned", "Reassigned"
        CLOSED = "closed", "Closed (lead left the queue)"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    routed = models.BooleanField(default=False, help_text="picked by routing rather than by a person")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    assigned_at = models.DateTimeField()
    sla_due_at = models.DateTimeField()
    escalate_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "escalate_at"], name="assignment_open_escalate"),
            models.Index(fields=["owner", "status"], name="assignment_owner_status"),
            models.Index(fields=["lead", "-assigned_at"], name="assignment_lead_time"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} → {self.owner} ({self.status})"


class QualificationReview(models.Model):
    """A BANT call as the SDR recorded it; several per lead, the latest is current."""

    STATUS = [("confirmed", "Confirmed"), ("unknown", "Unknown"), ("not_met", "Not met")]
    ROLES = [
        ("decision_maker", "Decision maker"),
        ("influencer", "Influencer"),
        ("champion", "Champion"),
        ("user", "User"),
        ("unknown", "Unknown"),
    ]
    TIMEFRAMES = [
        ("under_1_month", "Under 1 month"),
        ("1_3_months", "1–3 months"),
        ("3_6_months", "3–6 months"),
        ("6_12_months", "6–12 months"),
        ("over_12_months", "Over 12 months"),
        ("unknown", "Unknown"),
    ]
    OUTCOMES = [
        ("qualify", "Qualify"),
        ("recycle", "Recycle"),
        ("disqualify", "Disqualify"),
        ("pending", "Pending"),
    ]

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="qualification_reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    budget_status = models.CharField(max_length=10, choices=STATUS, default="unknown")
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_notes = models.TextField(blank=True)
    authority_status = models.CharField(max_length=10, choices=STATUS, default="unknown")
    authority_role = models.CharField(max_length=20, choices=ROLES, default="unknown")
    need_status = models.CharField(max_length=10, choices=STATUS, default="unknown")
    need_pain = models.TextField(blank=True)
    timeline_status = models.CharField(max_length=10, choices=STATUS, default="unknown")
    timeline_timeframe = models.CharField(max_length=20, choices=TIMEFRAMES, default="unknown")
    notes = models.TextField(blank=True)
    outcome = models.CharField(max_length=12, choices=OUTCOMES, default="pending")
    reason = models.CharField(max_length=60, blank=True)
    policy_met = models.BooleanField(default=False)
    policy_missing = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["lead", "-created_at", "-id"], name="review_lead_time")]

    def __str__(self) -> str:
        return f"BANT review of lead {self.lead_id} ({self.outcome})"

    def as_bant(self):
        from . import lifecycle

        return lifecycle.BantReview(
            budget_status=self.budget_status,
            budget_amount=self.budget_amount,
            authority_status=self.authority_status,
            authority_role=self.authority_role,
            need_status=self.need_status,
            need_pain=self.need_pain,
            timeline_status=self.timeline_status,
            timeline_timeframe=self.timeline_timeframe,
            outcome=self.outcome,
        )


class QualificationPolicySetting(models.Model):
    """The one qualification policy in force (a singleton row, edited in the admin)."""

    required = models.JSONField(
        default=list, help_text='criteria that must be confirmed, e.g. ["need", "authority"]'
    )
    min_confirmed = models.PositiveSmallIntegerField(default=3)
    max_timeline_months = models.PositiveSmallIntegerField(null=True, blank=True, default=6)
    authority_roles = models.JSONField(default=list, help_text='e.g. ["decision_maker", "champion"]')
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Qualification policy"

    def as_policy(self):
        from . import lifecycle

        return lifecycle.QualificationPolicy.from_dict(
            {
                "required": self.required or ["need", "authority"],
                "min_confirmed": self.min_confirmed,
                "max_timeline_months": self.max_timeline_months,
                "authority_roles": self.authority_roles or ["decision_maker", "champion"],
            }
        )


from .webhook_models import WebhookDelivery, WebhookSubscription  # noqa: E402, F401
