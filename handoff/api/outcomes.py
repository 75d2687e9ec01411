from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from handoff.outcomes import outcomes_record
from leads import services as lead_services
from leads.api.idempotency import idempotent
from leads.api.permissions import IngestOrRead
from leads.api.serializers import OutcomeBatchInSerializer, OutcomeInSerializer
from leads.api.views import BatchResult, _batch_response, _check_lead_ids, _validate_items


def _resolve_leads(valid):
    """Outcomes may name leads we never saw (history from another CRM): create them by e-mail."""
    emails = [data["email"] for _, data in valid if data.get("email")]
    ids = {}
    if emails:
        outcomes = lead_services.leads_upsert(items=[{"email": e} for e in dict.fromkeys(emails)])
        ids = dict(zip(dict.fromkeys(emails), (o.lead_id for o in outcomes), strict=True))
    return [(i, {**d, "lead_id": d.get("lead_id") or ids[d["email"]]}) for i, d in valid]


class OutcomeCreateView(APIView):
    """Closed-loop results: one, or {"outcomes": [...]} up to 1,000; by email or lead_id."""

    permission_classes = [IngestOrRead]

    @extend_schema(request=OutcomeInSerializer, responses={201: dict, 200: BatchResult})
    @idempotent
    def post(self, request):
        source = getattr(getattr(request, "auth", None), "name", "") or ""
        if isinstance(request.data, dict) and "outcomes" in request.data:
            batch = OutcomeBatchInSerializer(data=request.data)
            batch.is_valid(raise_exception=True)
            raw = batch.validated_data["outcomes"]
            valid, errors = _validate_items(OutcomeInSerializer, raw)
            valid = _resolve_leads(_check_lead_ids(valid, errors))
            done = outcomes_record(items=[d for _, d in valid], actor=request.user, source=source)
            results = {
                index: {
                    "status": r.status,
                    "id": r.outcome_id,
                    "lead_id": r.lead_id,
                    "applied": list(r.applied),
                    "errors": None,
                }
                for (index, _), r in zip(valid, done, strict=True)
            }
            return _batch_response(len(raw), errors, results)
        incoming = OutcomeInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        errors: dict = {}
        checked = _check_lead_ids([(0, incoming.validated_data)], errors)
        if not checked:
            return Response(
                {"detail": "Invalid input.", "errors": errors[0]}, status=status.HTTP_400_BAD_REQUEST
            )
        ((_, item),) = _resolve_leads(checked)
        (r,) = outcomes_record(items=[item], actor=request.user, source=source)
        body = {"status": r.status, "id": r.outcome_id, "lead_id": r.lead_id, "applied": list(r.applied)}
        return Response(body, status=status.HTTP_201_CREATED if r.status == "created" else status.HTTP_200_OK)
