from django import forms
from django.contrib import admin, messages

from . import webhooks
from .models import (
    Assignment,
    QualificationPolicySetting,
    QualificationReview,
    SalesTeam,
    SdrProfile,
    StageChange,
)
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


# --- Sales team, routing and the qualification policy ----------------------------------------


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class _ReadOnly:
    """Rows that only their services write: viewable in the admin, never added or edited there."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SalesTeam)
class SalesTeamAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "timezone",
        "hours",
        "accept_within_hours",
        "escalate_after_hours",
        "reassign_on_escalation",
        "manager",
    ]
    list_select_related = ["manager"]
    raw_id_fields = ["manager"]
    search_fields = ["name"]

    @admin.display(description="working hours")
    def hours(self, obj) -> str:
        days = sorted(obj.workdays or [0, 1, 2, 3, 4])
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            names = f"{_WEEKDAYS[days[0]]}–{_WEEKDAYS[days[-1]]}"
        else:
            names = ", ".join(_WEEKDAYS[d] for d in days)
        return f"{names} {obj.day_start:%H:%M}–{obj.day_end:%H:%M}"


@admin.register(SdrProfile)
class SdrProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "team",
        "is_active",
        "out_of_office_until",
        "capacity",
        "weight",
        "territory",
        "last_assigned_at",
    ]
    list_editable = ["is_active", "out_of_office_until", "capacity", "weight"]
    list_filter = ["team", "is_active"]
    list_select_related = ["user", "team"]
    raw_id_fields = ["user"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["last_assigned_at"]

    @admin.display(description="territory")
    def territory(self, obj) -> str:
        parts = [", ".join(obj.countries or []), ", ".join(obj.segments or [])]
        return " · ".join(p for p in parts if p) or "any"


@admin.register(Assignment)
class AssignmentAdmin(_ReadOnly, admin.ModelAdmin):
    """The hand-off audit: written by the transition service, with its SLA clock."""

    list_display = [
        "lead",
        "owner",
        "status",
        "routed",
        "assigned_at",
        "sla_due_at",
        "escalated_at",
        "resolved_at",
    ]
    list_filter = ["status", "routed"]
    list_select_related = ["lead", "owner"]
    raw_id_fields = ["lead", "owner", "assigned_by"]
    search_fields = ["lead__email", "owner__username"]
    ordering = ["-assigned_at", "-id"]
    show_full_result_count = False


@admin.register(QualificationReview)
class QualificationReviewAdmin(_ReadOnly, admin.ModelAdmin):
    """BANT calls as the SDRs recorded them; a review is evidence, so it is never edited."""

    list_display = [
        "lead",
        "reviewer",
        "outcome",
        "policy_met",
        "budget_status",
        "authority_status",
        "need_status",
        "timeline_status",
        "created_at",
    ]
    list_filter = ["outcome", "policy_met"]
    list_select_related = ["lead", "reviewer"]
    raw_id_fields = ["lead", "reviewer"]
    search_fields = ["lead__email"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False


class QualificationPolicySettingForm(forms.ModelForm):
    class Meta:
        model = QualificationPolicySetting
        fields = ["required", "min_confirmed", "max_timeline_months", "authority_roles"]
        help_texts = {
            "required": 'Criteria that must be confirmed whatever the count, as a JSON list of "budget", '
            '"authority", "need", "timeline". Empty means ["need", "authority"].',
            "min_confirmed": "At least this many of the four BANT criteria must be confirmed (0 to 4).",
            "max_timeline_months": "When set, the timeline must be confirmed with a timeframe ending "
            "within this many months (this makes the timeline required). Empty means no limit.",
            "authority_roles": "Authority counts only when the contact holds one of these roles: "
            '"decision_maker", "influencer", "champion", "user". Empty means ["decision_maker", "champion"].',
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = QualificationPolicySetting(**{f: cleaned.get(f) for f in self.Meta.fields})
        try:
            candidate.as_policy()  # the same checks the services apply when they read it
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(QualificationPolicySetting)
class QualificationPolicySettingAdmin(admin.ModelAdmin):
    form = QualificationPolicySettingForm
    list_display = [
        "__str__",
        "required",
        "min_confirmed",
        "max_timeline_months",
        "authority_roles",
        "updated_at",
    ]
    readonly_fields = ["updated_at"]
    fieldsets = [
        (
            None,
            {
                "description": "The one policy in force (the first row; without a row the built-in "
                "defaults apply). The BANT screen and the qualify action check each new review "
                "against it; changing it never re-judges leads already qualified.",
                "fields": [
                    "required",
                    "min_confirmed",
                    "max_timeline_months",
                    "authority_roles",
                    "updated_at",
                ],
            },
        )
    ]

    def has_add_permission(self, request) -> bool:
        # A singleton: a second row would never be read.
        return super().has_add_permission(request) and not QualificationPolicySetting.objects.exists()


@admin.register(StageChange)
class StageChangeAdmin(_ReadOnly, admin.ModelAdmin):
    """The audit trail is append-only: the services write it, nobody edits or deletes a row."""

    list_display = ["lead", "action", "from_stage", "to_stage", "who", "reason", "created_at"]
    list_filter = ["action", "to_stage"]
    list_select_related = ["lead", "actor"]
    raw_id_fields = ["lead", "actor", "owner"]
    search_fields = ["lead__email", "actor_label", "reason"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False

    @admin.display(description="actor", ordering="actor__username")
    def who(self, obj) -> str:
        return obj.actor.username if obj.actor_id else obj.actor_label or "—"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
