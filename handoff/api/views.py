from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from handoff import services
from handoff.models import QualificationReview
from leads import selectors
from leads.api.permissions import IngestOrRead
from leads.api.serializers import LeadDetailSerializer
from leads.models import Lead

from .serializers import QualificationInSerializer, QualificationSerializer, TransitionInSerializer


def refused(exc: services.TransitionRefused) -> Response:
    body = {"detail": exc.message, "code": exc.code or None}
    if exc.field:
        body["errors"] = {exc.field: [exc.message]}
    return Response(body, status=exc.status)


class LeadTransitionView(APIView):
    """Apply a lifecycle action: 200 with the lead, 409 when the stage moved on, 403 when the role may not."""

    permission_classes = [IngestOrRead]

    @extend_schema(request=TransitionInSerializer, responses={200: LeadDetailSerializer})
    def post(self, request, pk):
        incoming = TransitionInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        try:
            result = services.lead_transition(
                lead_id=pk,
                action=d["action"],
                actor=request.user,
                expected_stage=d["expected_stage"],
                reason=d.get("reason", ""),
                note=d.get("note", ""),
                owner=d.get("owner") or None,
                nurture_until=d.get("nurture_until"),
            )
        except services.TransitionRefused as exc:
            return refused(exc)
        lead = selectors.lead_list().get(pk=result.lead.pk)
        return Response(LeadDetailSerializer(lead).data)


class LeadQualificationsView(generics.ListAPIView):
    """BANT reviews of a lead (newest first); POST records one and applies its outcome."""

    permission_classes = [IngestOrRead]
    serializer_class = QualificationSerializer
    pagination_class = None

    def get_queryset(self):
        get_object_or_404(Lead.objects.only("id"), pk=self.kwargs["pk"])
        return (
            QualificationReview.objects.filter(lead_id=self.kwargs["pk"])
            .select_related("reviewer")
            .order_by("-created_at", "-id")
        )

    @extend_schema(request=QualificationInSerializer, responses={201: QualificationSerializer})
    def post(self, request, pk):
        incoming = QualificationInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            review, transition = services.qualification_record(
                lead_id=pk,
                actor=request.user,
                review=incoming.to_review(),
                expected_stage=incoming.validated_data.get("expected_stage"),
                nurture_until=incoming.validated_data.get("nurture_until"),
            )
        except services.TransitionRefused as exc:
            return refused(exc)
        body = QualificationSerializer(review).data
        body["stage"] = (
            transition.lead.stage if transition else Lead.objects.values_list("stage", flat=True).get(pk=pk)
        )
        return Response(body, status=status.HTTP_201_CREATED)
