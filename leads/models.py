from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Upper

from .vocabulary import FitGrade, InteractionType, Seniority, Stage


class Company(models.Model):
    name = models.CharField(max_length=255, blank=True)
    # Stored lower-cased by the services; NULL when unknown so that many domain-less companies
    # do not collide on the unique index.
    domain = models.CharField(max_length=253, null=True, blank=True, unique=True)
    industry = models.CharField(max_length=100, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.PositiveBigIntegerField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        constraints = [
            models.CheckConstraint(
                condition=Q(domain__isnull=True) | Q(domain=Lower("domain")),
                name="company_domain_lowercase",
            ),
        ]
        indexes = [
            # Lead search by company name prefix.
            models.Index(OpClass(Upper("name"), name="text_pattern_ops"), name="company_name_prefix"),
        ]

    def __str__(self) -> str:
        return self.name or self.domain or f"Company {self.pk}"


class JSONTextField(models.JSONField):
    """A JSONField stored as PostgreSQL ``json`` (the text, validated) instead of ``jsonb``.

    For a document written often and read whole, never searched by key in a WHERE clause: a
    lead's score explanation is rewritten by every rescore, and PostgreSQL takes ~14 us to parse
    one into jsonb against ~3 us to validate it as json, which also stores it a third smaller
    (bench/README.md, Scoring). SQL that reads into it casts to jsonb where it needs jsonb's
    functions. The driver decodes json columns itself (also the ``->`` of a key transform), so
    values arrive as Python objects and are passed through.

    json has no equality operator: a DISTINCT, UNION or GROUP BY over whole lead rows fails
    ("could not identify an equality operator for type json"); select by ``id__in`` instead,
    which is also cheaper than comparing every column of every row."""

    def db_type(self, connection):
        return "json"

    def from_db_value(self, value, expression, connection):
        return value


# Marketing's MQL queue: MQLs nobody has been handed yet. Its partial indexes hold ~6 % of leads.
MQL_QUEUE = Q(stage="mql", handed_off_at__isnull=True)


class Lead(models.Model):
    # Unique and lower-cased: the check constraint makes the plain unique index case-insensitive,
    # and lets INSERT ... ON CONFLICT (email) use it.
    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    seniority = models.CharField(max_length=20, choices=Seniority.choices, default=Seniority.UNKNOWN)
    department = models.CharField(max_length=40, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=2, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    source = models.CharField(max_length=60, blank=True, help_text="Acquisition channel")
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    consent_email_marketing = models.BooleanField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        # lead_owner_stage (owner, stage) serves every lookup by owner, the FK's SET NULL too;
        # a second index would cost every rescore's row rewrite one more entry for nothing.
        db_index=False,
    )
    handed_off_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    nurture_until = models.DateField(null=True, blank=True)

    # Cached results of the scoring app; the ledger in scoring/ is the source of truth.
    fit_score = models.PositiveSmallIntegerField(default=0)
    fit_grade = models.CharField(max_length=1, choices=FitGrade.choices, default=FitGrade.D)
    engagement_score = models.IntegerField(default=0)
    score = models.IntegerField(default=0)
    score_explanation = JSONTextField(default=dict, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    conversion_probability = models.FloatField(null=True, blank=True)
    # The durable "needs rescoring" mark: set in the same transaction as the change, so a task
    # lost by the broker is found again by the sweeper.
    needs_rescore = models.BooleanField(default=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="lead_email_lowercase"),
        ]
        # Every index costs each rescore's row rewrite an entry unless the rewrite is HOT: the
        # table keeps half of each page free for that (fillfactor 50, set by migration 0010).
        indexes = [
            models.Index(fields=["stage", "-score", "-id"], name="lead_stage_score"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["-created_at", "-id"], name="lead_created"),
            models.Index(fields=["source"], name="lead_source"),
            models.Index(fields=["fit_grade", "stage"], name="lead_grade_stage"),
            models.Index(fields=["id"], name="lead_needs_rescore", condition=Q(needs_rescore=True)),
            models.Index(fields=["-score", "-id"], name="lead_mql_queue", condition=MQL_QUEUE),
            # The queue's other sorts (age and newest share one index, read backwards for newest),
            # and its grade counts and source list as one index-only scan.
            models.Index(
                fields=["-engagement_score", "-id"], name="lead_mql_queue_engagement", condition=MQL_QUEUE
            ),
            models.Index(fields=["stage_changed_at", "id"], name="lead_mql_queue_age", condition=MQL_QUEUE),
            models.Index(
                fields=["-fit_score", "-score", "-id"], name="lead_mql_queue_fit", condition=MQL_QUEUE
            ),
            models.Index(
                fields=["source", "-score", "-id"], name="lead_mql_queue_source", condition=MQL_QUEUE
            ),
            models.Index(
                F("conversion_probability").desc(nulls_last=True),
                F("score").desc(),
                F("id").desc(),
                name="lead_mql_queue_probability",
                condition=MQL_QUEUE,
            ),
            models.Index(
                fields=["fit_grade", "source"],
                include=["id"],
                name="lead_mql_queue_facets",
                condition=MQL_QUEUE,
            ),
            # Searching the queue by name prefix (istartswith is UPPER(...) LIKE 'X%').
            models.Index(
                OpClass(Upper("first_name"), name="text_pattern_ops"),
                name="lead_mql_queue_first_name",
                condition=MQL_QUEUE,
            ),
            models.Index(
                OpClass(Upper("last_name"), name="text_pattern_ops"),
                name="lead_mql_queue_last_name",
                condition=MQL_QUEUE,
            ),
            models.Index(fields=["owner", "sla_due_at"], name="lead_owner_sla", condition=Q(stage="mql")),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Interaction(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="interactions")
    type = models.CharField(max_length=30, choices=InteractionType.choices)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    # Dedupe key: the integration's own id for the event, unique per source.
    source = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL = no dedupe key
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="interaction_external_id_per_source",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-occurred_at", "-id"], name="interaction_lead_time"),
            models.Index(fields=["type", "occurred_at"], name="interaction_type_time"),
        ]

    def __str__(self) -> str:
        return f"{self.type} by lead {self.lead_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class IdealCustomerProfile(models.Model):
    """Firmographic and demographic criteria with weights, plus knock-outs, stored as data.

    The shape of `criteria` and `knockouts` is the one scoring/engine.py reads; the scoring app
    validates it before a profile is used by a model.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    criteria = models.JSONField(default=list, blank=True)
    knockouts = models.JSONField(default=list, blank=True)
    grade_thresholds = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ideal customer profile"

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """An integration's key. Only a SHA-256 of the secret is stored; the secret is shown once.

    SHA-256 (not a slow password hash) is right here: keys are 256-bit random, so there is
    nothing to brute-force, and every API request must verify one cheaply.
    """

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, unique=True)
    hashed_key = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """Stripe-style idempotency: the first response to a key is stored and replayed."""

    owner = models.CharField(max_length=120, help_text="api key id or user id that sent the key")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class Outcome(models.Model):
    """A closed-loop result from a downstream system (CRM, billing): it judges and trains scoring."""

    class Result(models.TextChoices):
        WON = "won", "Won"
        LOST = "lost", "Lost"
        CONVERTED = "converted", "Converted (became an opportunity)"
        NOT_CONVERTED = "not_converted", "Not converted"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="outcomes")
    result = models.CharField(max_length=15, choices=Result.choices)
    occurred_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    source = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL = no dedupe key
    # What it did to the lead's stage, if the lifecycle allowed anything ("convert", "win", "lose").
    applied_action = models.CharField(max_length=20, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="outcome_external_id_per_source",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="outcome_lead_time"),
            models.Index(fields=["result", "occurred_at"], name="outcome_result_time"),
        ]

    def __str__(self) -> str:
        return f"{self.result} for lead {self.lead_id}"
