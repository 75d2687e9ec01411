from django import forms
from django.contrib import admin, messages

from . import webhooks
from .webhook_models import WebhookDelivery, WebhookEvent, WebhookSubscription


class WebhookSubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave all unticked to receive every event, including ones added later.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "events", "description", "is_active"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "events_list", "description", "is_active", "created_by", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at"]

    @admin.display(description="events")
    def events_list(self, obj) -> str:
        return ", ".join(obj.events) if obj.events else "all events"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # The secret is made by the service and shown once, here; the admin never displays it again.
        subscription, secret = webhooks.subscription_create(
            url=obj.url,
            events=obj.events,
            description=obj.description,
            is_active=obj.is_active,
            created_by=request.user,
        )
        obj.pk = subscription.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"Webhook created. Copy its signing secret now, it will not be shown again: {secret}",
            messages.WARNING,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["subscription"]
    raw_id_fields = ["subscription"]
    show_full_result_count = False
    actions = ["replay_selected"]
    # Deliveries are a record of what was sent: they change only by being (re)sent.
    readonly_fields = [
        "subscription",
        "uuid",
        "event",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "last_response_body",
        "created_at",
        "delivered_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Replay selected deliveries")
    def replay_selected(self, request, queryset):
        replayed, refused = 0, 0
        for delivery_id in queryset.values_list("id", flat=True):
            try:
                webhooks.replay(delivery_id=delivery_id)
                replayed += 1
            except webhooks.ReplayRefused:
                refused += 1
        self.message_user(request, f"Replaying {replayed} deliver{'y' if replayed == 1 else 'ies'}.")
        if refused:
            self.message_user(
                request,
                f"Skipped {refused}: their subscription is inactive.",
                messages.WARNING,
            )
