"""Input validation for ingestion and the read shapes of the API.

Every rule that can reject an item lives here, so the services only ever see clean data and a
bad item never reaches the database half-written.
"""

import json
import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leads.models import Company, Interaction, Lead
from leads.vocabulary import InteractionType

MAX_JSON_BYTES = 16 * 1024
MAX_JSON_DEPTH = 5
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")


def _check_json(value, path="", depth=0):
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise serializers.ValidationError("Keys may not contain NUL characters.")
            _check_json(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, path, depth + 1)
    elif isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError("Values may not contain NUL characters.")


class JSONObjectField(serializers.JSONField):
    """A JSON object (not a list or scalar), small and free of NUL bytes (PostgreSQL rejects them)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        _check_json(data)
        if len(json.dumps(data)) > MAX_JSON_BYTES:
            raise serializers.ValidationError(f"Must be at most {MAX_JSON_BYTES} bytes of JSON.")
        return data


@extend_schema_field({"type": "object", "additionalProperties": True})
class AttributesField(JSONObjectField):
    pass


class RejectUnknownFields:
    """Unknown fields are an error, as in Stripe's API: a typo must not be silently dropped.
    A mixin for any serializer, plain or model; read-only fields sent back are accepted."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in sorted(unknown)})
        return super().to_internal_value(data)


class StrictSerializer(RejectUnknownFields, serializers.Serializer):
    pass


class CompanyInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    employee_count = serializers.IntegerField(
        min_value=0, max_value=10_000_000, required=False, allow_null=True
    )
    annual_revenue = serializers.IntegerField(min_value=0, max_value=10**13, required=False, allow_null=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)

    def validate_domain(self, value: str) -> str:
        value = value.strip().lower().removeprefix("www.")
        if value and not DOMAIN_RE.match(value):
            raise serializers.ValidationError("Enter a domain such as example.com.")
        return value

    def validate_country(self, value: str) -> str:
        if value and not COUNTRY_RE.match(value):
            raise serializers.ValidationError("Use a two-letter ISO 3166 country code.")
        return value.upper()


class ConsentSerializer(StrictSerializer):
    email_marketing = serializers.BooleanField(required=False, allow_null=True)


class LeadInSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    company = CompanyInSerializer(required=False)
    source = serializers.CharField(max_length=60, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    consent = ConsentSerializer(required=False)
    attributes = AttributesField(required=False)

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    validate_country = CompanyInSerializer.validate_country


class LeadBatchInSerializer(serializers.Serializer):
    leads = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)


class InteractionInSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    lead_id = serializers.IntegerField(min_value=1, required=False)
    type = serializers.ChoiceField(choices=InteractionType.choices)
    occurred_at = serializers.DateTimeField()
    properties = AttributesField(required=False)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    source = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    def validate_occurred_at(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            value = value.replace(tzinfo=UTC)
        # Clocks drift, so a little future is fine; a year-9999 event is a bug upstream.
        if value < EARLIEST_EVENT or value > timezone.now() + timedelta(days=1):
            raise serializers.ValidationError("Must be between 2000-01-01 and one day from now.")
        return value

    def validate_properties(self, value: dict) -> dict:
        duration = value.get("duration_seconds")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
        ):
            raise serializers.ValidationError({"duration_seconds": "Must be a non-negative number."})
        url = value.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 2048):
            raise serializers.ValidationError({"url": "Must be a string of at most 2048 characters."})
        return value

    def validate(self, attrs):
        if bool(attrs.get("email")) == bool(attrs.get("lead_id")):
            raise serializers.ValidationError(
                {"email": ["Name the lead by exactly one of email or lead_id."]}
            )
        return attrs


class InteractionBatchInSerializer(serializers.Serializer):
    interactions = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)


class CompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "domain", "industry", "employee_count", "annual_revenue", "country"]


class LeadSerializer(serializers.ModelSerializer):
    company = CompanySerializer(read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    consent = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "job_title",
            "seniority",
            "department",
            "phone",
            "country",
            "company",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "consent",
            "attributes",
            "stage",
            "owner",
            "handed_off_at",
            "sla_due_at",
            "fit_score",
            "fit_grade",
            "engagement_score",
            "score",
            "conversion_probability",
            "scored_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(
        {"type": "object", "properties": {"email_marketing": {"type": "boolean", "nullable": True}}}
    )
    def get_consent(self, lead: Lead) -> dict:
        return {"email_marketing": lead.consent_email_marketing}


class LeadDetailSerializer(LeadSerializer):
    score_explanation = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_score_explanation(self, lead: Lead) -> dict:
        # Stored compactly by the scoring app; read back with the labels of the model version
        # that computed it (the scoring app owns that format, hence the import here).
        from scoring.selectors import lead_explanation

        return lead_explanation(lead.score_explanation)

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "score_explanation"]


class InteractionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Interaction
        fields = [
            "id",
            "lead",
            "type",
            "occurred_at",
            "properties",
            "source",
            "external_id",
            "received_at",
        ]


class OutcomeInSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    lead_id = serializers.IntegerField(min_value=1, required=False)
    result = serializers.ChoiceField(choices=["won", "lost", "converted", "not_converted"])
    occurred_at = serializers.DateTimeField()
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    source = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    validate_occurred_at = InteractionInSerializer.validate_occurred_at

    def validate(self, attrs):
        if bool(attrs.get("email")) == bool(attrs.get("lead_id")):
            raise serializers.ValidationError(
                {"email": ["Name the lead by exactly one of email or lead_id."]}
            )
        return attrs


class OutcomeBatchInSerializer(serializers.Serializer):
    outcomes = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)


class RowValidator:
    """One of the API's input serializers, instantiated once and re-fed item after item.

    A DRF serializer deep-copies its declared fields on first use of every instance: for
    LeadInSerializer (with its nested company and consent) that was two thirds of the time per
    item. The fields keep no per-item state (no unique validators, no context), so one bound
    instance judges each item exactly as a fresh one would; its cached results are cleared
    between items. Batches and CSV imports both validate through this.
    """

    def __init__(self, serializer_class):
        self.serializer = serializer_class(data={})

    def __call__(self, item) -> tuple[dict | None, object]:
        serializer = self.serializer
        serializer.initial_data = item
        for cached in ("_validated_data", "_errors", "_data"):
            serializer.__dict__.pop(cached, None)
        if serializer.is_valid():
            return serializer.validated_data, None
        return None, serializer.errors
