from rest_framework import serializers

from leads.api.serializers import RejectUnknownFields
from leads.models import IdealCustomerProfile
from scoring import engine
from scoring.models import RescoreJob, ScoreChange, ScoringModel


class ScoreChangeSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model.version", read_only=True)
    event = serializers.IntegerField(source="interaction_id", read_only=True, allow_null=True)
    rule = serializers.CharField(source="rule_key", read_only=True)
    time = serializers.DateTimeField(source="computed_at", read_only=True)

    class Meta:
        model = ScoreChange
        fields = [
            "id",
            "time",
            "model_version",
            "cause",
            "kind",
            "rule",
            "label",
            "event",
            "points",
            "value_after",
            "score_after",
            "fit_grade_after",
            "engagement_after",
        ]


def _validate_definition(value):
    try:
        engine.model_from_dict(value)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        if errors:
            raise serializers.ValidationError([f"{path}: {message}" for path, message in errors]) from exc
        raise serializers.ValidationError(str(exc)) from exc
    return value


class ScoringModelSerializer(RejectUnknownFields, serializers.ModelSerializer):
    definition = serializers.JSONField(required=False, validators=[_validate_definition])
    copy_from = serializers.PrimaryKeyRelatedField(
        queryset=ScoringModel.objects.all(),
        required=False,
        write_only=True,
        help_text="Start the draft as a copy of this model (default: the active one).",
    )

    class Meta:
        model = ScoringModel
        fields = [
            "id",
            "name",
            "version",
            "status",
            "definition",
            "notes",
            "copy_from",
            "created_at",
            "updated_at",
            "activated_at",
            "retired_at",
        ]
        read_only_fields = ["version", "status", "created_at", "updated_at", "activated_at", "retired_at"]


class ICPSerializer(RejectUnknownFields, serializers.ModelSerializer):
    class Meta:
        model = IdealCustomerProfile
        fields = [
            "id",
            "name",
            "description",
            "criteria",
            "knockouts",
            "grade_thresholds",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        icp = {
            "criteria": attrs.get("criteria", getattr(self.instance, "criteria", [])),
            "knockouts": attrs.get("knockouts", getattr(self.instance, "knockouts", [])),
            "grade_thresholds": attrs.get("grade_thresholds")
            or getattr(self.instance, "grade_thresholds", None)
            or dict(engine.DEFAULT_GRADE_THRESHOLDS),
        }
        base = engine.model_to_dict(engine.default_model())
        try:
            engine.model_from_dict({**base, "icp": icp})
        except ValueError as exc:
            raise serializers.ValidationError({"criteria": [str(exc)]}) from exc
        return attrs


class RescoreJobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    model_version = serializers.IntegerField(source="model.version", read_only=True)

    class Meta:
        model = RescoreJob
        fields = [
            "id",
            "model_version",
            "status",
            "total",
            "done",
            "percent",
            "promoted",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class PreviewInSerializer(RejectUnknownFields, serializers.Serializer):
    lead_id = serializers.IntegerField(min_value=1)
