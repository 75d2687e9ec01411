from rest_framework import serializers

from handoff import lifecycle
from handoff.models import QualificationReview
from leads.api.serializers import LeadDetailSerializer, StrictSerializer


class TransitionInSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=[a.value for a in lifecycle.Action])
    expected_stage = serializers.ChoiceField(choices=[s.value for s in lifecycle.Stage])
    reason = serializers.CharField(max_length=60, required=False, allow_blank=True)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    owner = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="SDR username (handoff)"
    )
    nurture_until = serializers.DateField(required=False, allow_null=True)


class BudgetSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[s.value for s in lifecycle.Status], default="unknown")
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class AuthoritySerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[s.value for s in lifecycle.Status], default="unknown")
    role = serializers.ChoiceField(choices=lifecycle.AUTHORITY_ROLES, default="unknown")


class NeedSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[s.value for s in lifecycle.Status], default="unknown")
    pain = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class TimelineSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[s.value for s in lifecycle.Status], default="unknown")
    timeframe = serializers.ChoiceField(choices=lifecycle.TIMEFRAMES, default="unknown")


class QualificationInSerializer(StrictSerializer):
    budget = BudgetSerializer(required=False)
    authority = AuthoritySerializer(required=False)
    need = NeedSerializer(required=False)
    timeline = TimelineSerializer(required=False)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    outcome = serializers.ChoiceField(choices=lifecycle.REVIEW_OUTCOMES, default="pending")
    reason = serializers.CharField(max_length=60, required=False, allow_blank=True)
    nurture_until = serializers.DateField(required=False, allow_null=True)
    expected_stage = serializers.ChoiceField(choices=[s.value for s in lifecycle.Stage], required=False)

    def to_review(self) -> dict:
        d = self.validated_data
        budget, authority = d.get("budget", {}), d.get("authority", {})
        need, timeline = d.get("need", {}), d.get("timeline", {})
        return {
            "budget_status": budget.get("status", "unknown"),
            "budget_amount": budget.get("amount"),
            "budget_notes": budget.get("notes", ""),
            "authority_status": authority.get("status", "unknown"),
            "authority_role": authority.get("role", "unknown"),
            "need_status": need.get("status", "unknown"),
            "need_pain": need.get("pain", ""),
            "timeline_status": timeline.get("status", "unknown"),
            "timeline_timeframe": timeline.get("timeframe", "unknown"),
            "notes": d.get("notes", ""),
            "outcome": d.get("outcome", "pending"),
            "reason": d.get("reason", ""),
        }


class QualificationSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    budget = serializers.SerializerMethodField()
    authority = serializers.SerializerMethodField()
    need = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()

    class Meta:
        model = QualificationReview
        fields = [
            "id",
            "lead",
            "reviewer",
            "created_at",
            "budget",
            "authority",
            "need",
            "timeline",
            "notes",
            "outcome",
            "reason",
            "policy_met",
            "policy_missing",
        ]

    def get_budget(self, r) -> dict:
        return {"status": r.budget_status, "amount": r.budget_amount, "notes": r.budget_notes}

    def get_authority(self, r) -> dict:
        return {"status": r.authority_status, "role": r.authority_role}

    def get_need(self, r) -> dict:
        return {"status": r.need_status, "pain": r.need_pain}

    def get_timeline(self, r) -> dict:
        return {"status": r.timeline_status, "timeframe": r.timeline_timeframe}


class TransitionOutSerializer(LeadDetailSerializer):
    pass
