"""Predictive scoring over HTTP: start a training run, follow it, read a lead's prediction.

Training and the model list are marketing's (and admin's); integrations (API keys) and sales
may read a lead's probability and factors, not start or inspect training.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api.permissions import IngestOrRead, IsMarketing, require_roles
from leads.models import Lead
from scoring import predictive_services
from scoring.models import LeadPrediction, PredictiveModel

_MODEL_FIELDS = [f.name for f in PredictiveModel._meta.fields if f.name != "artifact"]


class PredictiveModelSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)
    auc = serializers.FloatField(read_only=True, allow_null=True)
    poll = serializers.SerializerMethodField()

    class Meta:
        model = PredictiveModel
        fields = [
            "id",
            "version",
            "status",
            "message",
            "auc",
            "metrics",
            "trained_on",
            "force",
            "trigger",
            "requested_by",
            "leads_scored",
            "created_at",
            "started_at",
            "finished_at",
            "activated_at",
            "scored_at",
            "poll",
        ]

    def get_poll(self, obj) -> str:
        return reverse("predictive-model-detail", args=[obj.pk])


class TrainInSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Activate the new model even if its held-out AUC is below the active one's."
    )


class LeadPredictionSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model.version", read_only=True)

    class Meta:
        model = LeadPrediction
        fields = ["lead", "probability", "factors", "model_version", "computed_at"]


class PredictiveTrainView(APIView):
    """Train the predictive model on the outcomes so far (asynchronous): 202 with a job to poll.

    Too few outcomes is not an error here: the run ends "failed" with a message saying how many
    more converted and not-converted leads are needed.
    """

    permission_classes = [IsMarketing]

    @extend_schema(request=TrainInSerializer, responses={202: PredictiveModelSerializer})
    def post(self, request):
        incoming = TrainInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        row = predictive_services.predictive_training_request(
            actor=request.user, force=incoming.validated_data["force"], trigger="api"
        )
        data = PredictiveModelSerializer(row).data
        return Response(
            {"id": row.pk, "status": row.status, "poll": data["poll"], "model": data},
            status=status.HTTP_202_ACCEPTED,
        )


class PredictiveModelListView(generics.ListAPIView):
    """Training runs and model versions, newest first (the last 100)."""

    permission_classes = [IsMarketing]
    serializer_class = PredictiveModelSerializer
    pagination_class = None

    def get_queryset(self):
        return (
            PredictiveModel.objects.only(*_MODEL_FIELDS)
            .select_related("requested_by")
            .order_by("-version")[:100]
        )


class PredictiveModelDetailView(generics.RetrieveAPIView):
    permission_classes = [IsMarketing]
    serializer_class = PredictiveModelSerializer

    def get_queryset(self):
        return PredictiveModel.objects.only(*_MODEL_FIELDS).select_related("requested_by")


class LeadPredictionView(APIView):
    """The lead's conversion probability and its top factors (plus and minus) in words."""

    permission_classes = [IngestOrRead]

    @extend_schema(responses={200: LeadPredictionSerializer})
    def get(self, request, pk):
        lead = get_object_or_404(Lead.objects.only("id"), pk=pk)
        prediction = predictive_services.lead_prediction(lead_id=lead.pk)
        if prediction is None:
            raise NotFound("This lead has no conversion probability yet (no active predictive model).")
        return Response(LeadPredictionSerializer(prediction).data)


@login_required
@require_POST
def predictive_train_form(request):
    """The scoring page's "Train now" button: queue a run, then back to the page."""
    require_roles(request, "marketing")
    row = predictive_services.predictive_training_request(
        actor=request.user, force=request.POST.get("force") in ("1", "on", "true"), trigger="manual"
    )
    messages.success(
        request,
        f"Predictive model v{row.version} is {row.get_status_display().lower()}."
        " The panel shows its result when training ends.",
    )
    return redirect("scoring")
