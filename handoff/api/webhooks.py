"""Webhook subscriptions and their deliveries, for admins only."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from handoff import webhooks
from handoff.webhook_models import WEBHOOK_EVENT_NAMES, WebhookDelivery, WebhookSubscription
from leads.api.pagination import KeysetPagination
from leads.api.permissions import HasRole


class IsAdminRole(HasRole):
    roles = ("admin",)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "enum": list(WEBHOOK_EVENT_NAMES)},
        "description": "Events to receive; empty means all of them.",
    }
)
class EventListField(serializers.ListField):
    """A list of event names, checked as a whole so the error names every unknown event at once."""

    child = serializers.CharField()

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        try:
            webhooks.validate_webhook_events(names)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return list(dict.fromkeys(names))


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    events = EventListField(required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "description", "is_active", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret. Shown only in this response: store it now."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "subscription",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "last_response_body",
            "payload",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields


class WebhookListCreateView(generics.ListCreateAPIView):
    permission_classes = [IsAdminRole]
    serializer_class = WebhookSubscriptionSerializer
    queryset = WebhookSubscription.objects.select_related("created_by").order_by("-created_at", "-id")
    # A handful of receivers per installation: one page.
    pagination_class = None

    @extend_schema(
        request=WebhookSubscriptionSerializer,
        responses={201: WebhookSubscriptionCreatedSerializer},
        summary="Subscribe a URL to lifecycle events; the response carries the signing secret, once",
    )
    def post(self, request):
        incoming = WebhookSubscriptionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        subscription, secret = webhooks.subscription_create(
            **incoming.validated_data, created_by=request.user
        )
        subscription.secret = secret
        return Response(
            WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED
        )


class WebhookDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [IsAdminRole]
    serializer_class = WebhookSubscriptionSerializer
    queryset = WebhookSubscription.objects.select_related("created_by")
    # PATCH only: a PUT that forgot `events` would silently widen the subscription to every event.
    http_method_names = ["get", "patch", "delete", "head", "options"]


class WebhookDeliveriesView(generics.ListAPIView):
    """The subscription's deliveries, newest first."""

    permission_classes = [IsAdminRole]
    serializer_class = WebhookDeliverySerializer

    class pagination_class(KeysetPagination):  # noqa: N801 - DRF's attribute name
        default_ordering = "-created_at"
        ordering_fields = ("created_at",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view: no pk
            return WebhookDelivery.objects.none()
        subscription = get_object_or_404(WebhookSubscription.objects.only("id"), pk=self.kwargs["pk"])
        return WebhookDelivery.objects.filter(subscription=subscription)


class WebhookDeliveryReplayView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        summary="Send a delivery again (same event id) as a new attempt",
    )
    def post(self, request, pk):
        get_object_or_404(WebhookDelivery.objects.only("id"), pk=pk)
        try:
            delivery = webhooks.replay(delivery_id=pk)
        except webhooks.ReplayRefused as exc:
            raise ValidationError({"subscription": [str(exc)]}) from exc
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
