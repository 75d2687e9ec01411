"""Thin API views: validate, call one service, shape the response."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from leads import selectors, services
from leads.models import Lead

from .filters import LeadFilter
from .idempotency import idempotent
from .pagination import KeysetPagination
from .permissions import IngestOrRead
from .serializers import (
    InteractionBatchInSerializer,
    InteractionInSerializer,
    InteractionSerializer,
    LeadBatchInSerializer,
    LeadDetailSerializer,
    LeadInSerializer,
    LeadSerializer,
    RowValidator,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Replays the first response for 24 h; a different body with the same key is a 422.",
)

BatchResult = inline_serializer(
    "BatchResult",
    {
        "results": serializers.ListField(child=serializers.DictField()),
        "summary": serializers.DictField(child=serializers.IntegerField()),
    },
)


class LeadPagination(KeysetPagination):
    default_ordering = "-created_at"
    ordering_fields = ("score", "fit_score", "engagement_score", "created_at", "updated_at")


def _validate_items(serializer_class, raw_items):
    """Validate each item on its own: one bad item must not reject the rest of the batch."""
    valid, errors = [], {}
    validate = RowValidator(serializer_class)
    for index, raw in enumerate(raw_items):
        data, problems = validate(raw)
        if data is not None:
            valid.append((index, data))
        else:
            errors[index] = problems
    return valid, errors


def _batch_response(size, errors, outcomes):
    results = []
    for index in range(size):
        if index in errors:
            results.append({"index": index, "status": "error", "id": None, "errors": errors[index]})
        else:
            results.append({"index": index, **outcomes[index]})
    summary: dict[str, int] = {}
    for r in results:
        summary[r["status"]] = summary.get(r["status"], 0) + 1
    return Response({"results": results, "summary": summary}, status=status.HTTP_200_OK)


class LeadListCreateView(generics.ListAPIView):
    permission_classes = [IngestOrRead]
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    pagination_class = LeadPagination

    def get_queryset(self):
        return selectors.lead_list()

    @extend_schema(
        request=LeadInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: LeadDetailSerializer, 200: LeadDetailSerializer},
        summary="Create or update one lead by e-mail",
    )
    @idempotent
    def post(self, request):
        incoming = LeadInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        outcome = services.lead_upsert(data=incoming.validated_data)
        lead = selectors.lead_list().get(pk=outcome.lead_id)
        return Response(
            LeadDetailSerializer(lead).data,
            status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
        )


class LeadBatchView(APIView):
    permission_classes = [IngestOrRead]

    @extend_schema(
        request=LeadBatchInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: BatchResult},
        summary="Upsert up to 1,000 leads; one result per item",
    )
    @idempotent
    def post(self, request):
        batch = LeadBatchInSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        raw = batch.validated_data["leads"]
        valid, errors = _validate_items(LeadInSerializer, raw)
        outcomes = {}
        if valid:
            done = services.leads_upsert(items=[data for _, data in valid])
            for (index, _), outcome in zip(valid, done, strict=True):
                outcomes[index] = {
                    "status": "created" if outcome.created else "updated",
                    "id": outcome.lead_id,
                    "errors": None,
                }
        return _batch_response(len(raw), errors, outcomes)


class LeadDetailView(generics.RetrieveAPIView):
    permission_classes = [IngestOrRead]
    serializer_class = LeadDetailSerializer

    def get_queryset(self):
        return selectors.lead_list()


class LeadInteractionsView(generics.ListAPIView):
    permission_classes = [IngestOrRead]
    serializer_class = InteractionSerializer

    class pagination_class(KeysetPagination):  # noqa: N801 - DRF's attribute name
        default_ordering = "-occurred_at"
        ordering_fields = ("occurred_at",)

    def get_queryset(self):
        lead = get_object_or_404(Lead.objects.only("id"), pk=self.kwargs["pk"])
        return selectors.lead_interactions(lead_id=lead.pk)


class InteractionCreateView(APIView):
    permission_classes = [IngestOrRead]

    @extend_schema(
        request=InteractionInSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: InteractionSerializer, 200: BatchResult},
        summary='Record one interaction, or {"interactions": [...]} up to 1,000',
    )
    @idempotent
    def post(self, request):
        source = getattr(getattr(request, "auth", None), "name", "") or ""
        if isinstance(request.data, dict) and "interactions" in request.data:
            batch = InteractionBatchInSerializer(data=request.data)
            batch.is_valid(raise_exception=True)
            raw = batch.validated_data["interactions"]
            valid, errors = _validate_items(InteractionInSerializer, raw)
            valid = _check_lead_ids(valid, errors)
            outcomes = {}
            if valid:
                done = services.interactions_record(items=[d for _, d in valid], source=source)
                for (index, _), outcome in zip(valid, done, strict=True):
                    outcomes[index] = {
                        "status": outcome.status,
                        "id": outcome.interaction_id,
                        "lead_id": outcome.lead_id,
                        "errors": None,
                    }
            return _batch_response(len(raw), errors, outcomes)

        incoming = InteractionInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        errors: dict = {}
        if not _check_lead_ids([(0, incoming.validated_data)], errors):
            return Response(
                {"detail": "Invalid input.", "errors": errors[0]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        outcome = services.interactions_record(items=[incoming.validated_data], source=source)[0]
        body = {
            "status": outcome.status,
            "id": outcome.interaction_id,
            "lead_id": outcome.lead_id,
            "lead_created": outcome.lead_created,
        }
        code = status.HTTP_201_CREATED if outcome.status == "created" else status.HTTP_200_OK
        return Response(body, status=code)


def _check_lead_ids(valid, errors):
    ids = {data["lead_id"] for _, data in valid if data.get("lead_id")}
    if not ids:
        return valid
    known = set(Lead.objects.filter(pk__in=ids).values_list("pk", flat=True))
    kept = []
    for index, data in valid:
        if data.get("lead_id") and data["lead_id"] not in known:
            errors[index] = {"lead_id": ["No lead with this id."]}
        else:
            kept.append((index, data))
    return kept
