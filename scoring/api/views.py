from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api.pagination import KeysetPagination
from leads.api.permissions import IngestOrRead, IsMarketing
from leads.models import IdealCustomerProfile, Lead
from scoring import selectors, services
from scoring.models import RescoreJob, ScoringModel

from .serializers import (
    ICPSerializer,
    PreviewInSerializer,
    RescoreJobSerializer,
    ScoreChangeSerializer,
    ScoringModelSerializer,
)


class ScoreHistoryView(generics.ListAPIView):
    """The lead's score ledger, newest first: every change with model version, rule, event, points."""

    permission_classes = [IngestOrRead]
    serializer_class = ScoreChangeSerializer

    class pagination_class(KeysetPagination):  # noqa: N801
        default_ordering = "-computed_at"
        ordering_fields = ("computed_at",)

    def get_queryset(self):
        lead = get_object_or_404(Lead.objects.only("id"), pk=self.kwargs["pk"])
        return selectors.score_history(lead_id=lead.pk)


class ICPListCreateView(generics.ListCreateAPIView):
    permission_classes = [IsMarketing]
    serializer_class = ICPSerializer
    queryset = IdealCustomerProfile.objects.order_by("name")
    pagination_class = None


class ICPDetailView(generics.RetrieveUpdateAPIView):
    permission_classes = [IsMarketing]
    serializer_class = ICPSerializer
    queryset = IdealCustomerProfile.objects.all()


def _value_error(exc: ValueError) -> ValidationError:
    errors = getattr(exc, "errors", None)
    if errors:
        return ValidationError({"definition": [f"{p}: {m}" for p, m in errors]})
    return ValidationError({"status": [str(exc)]})


class ScoringModelListCreateView(generics.ListCreateAPIView):
    permission_classes = [IsMarketing]
    serializer_class = ScoringModelSerializer
    queryset = ScoringModel.objects.order_by("-version")
    pagination_class = None

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.scoring_model_create_draft(
                name=data["name"],
                definition=data.get("definition"),
                from_model=data.get("copy_from"),
                actor=self.request.user,
            )
        except ValueError as exc:
            raise _value_error(exc) from exc


class ScoringModelDetailView(generics.RetrieveUpdateAPIView):
    permission_classes = [IsMarketing]
    serializer_class = ScoringModelSerializer
    queryset = ScoringModel.objects.all()

    def perform_update(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.scoring_model_update_draft(
                model=serializer.instance,
                definition=data.get("definition", serializer.instance.definition),
                name=data.get("name"),
            )
        except ValueError as exc:
            raise _value_error(exc) from exc


class ScoringModelActivateView(APIView):
    permission_classes = [IsMarketing]

    @extend_schema(request=None, responses={202: RescoreJobSerializer})
    def post(self, request, pk):
        model = get_object_or_404(ScoringModel, pk=pk)
        try:
            job = services.scoring_model_activate(model=model, actor=request.user)
        except ValueError as exc:
            raise _value_error(exc) from exc
        return Response(RescoreJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ScoringModelBacktestView(APIView):
    """Preview and backtest: the model against the active one over the existing leads."""

    permission_classes = [IsMarketing]

    @extend_schema(request=None, responses={200: dict})
    def get(self, request, pk):
        model = get_object_or_404(ScoringModel, pk=pk)
        return Response(asdict(selectors.backtest(draft=model)))


class ScoringModelPreviewView(APIView):
    """One lead scored by this model now, with the full explanation, nothing written."""

    permission_classes = [IsMarketing]

    @extend_schema(request=PreviewInSerializer, responses={200: dict})
    def post(self, request, pk):
        model = get_object_or_404(ScoringModel, pk=pk)
        incoming = PreviewInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            explanation = services.preview_lead(model=model, lead_id=incoming.validated_data["lead_id"])
        except Lead.DoesNotExist as exc:
            raise ValidationError({"lead_id": ["No lead with this id."]}) from exc
        return Response(explanation)


class RescoreJobView(generics.RetrieveAPIView):
    permission_classes = [IsMarketing]
    serializer_class = RescoreJobSerializer
    queryset = RescoreJob.objects.select_related("model")
