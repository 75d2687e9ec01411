from django.contrib import admin, messages

from . import services
from .models import ApiKey, Company, IdealCustomerProfile, IdempotencyRecord, Interaction, Lead


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "industry", "employee_count", "annual_revenue", "country"]
    search_fields = ["name", "domain"]
    list_filter = ["industry", "country"]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "full_name",
        "company",
        "stage",
        "fit_grade",
        "score",
        "owner",
        "created_at",
    ]
    list_filter = ["stage", "fit_grade", "source"]
    search_fields = ["email", "first_name", "last_name"]
    raw_id_fields = ["company", "owner"]
    list_select_related = ["company", "owner"]
    show_full_result_count = False
    # Stage and scores change only through their services, so the ledger and history stay true.
    readonly_fields = [
        "stage",
        "stage_changed_at",
        "fit_score",
        "fit_grade",
        "engagement_score",
        "score",
        "score_explanation",
        "scored_at",
        "conversion_probability",
        "handed_off_at",
        "sla_due_at",
    ]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["lead", "type", "occurred_at", "source", "external_id"]
    list_filter = ["type"]
    raw_id_fields = ["lead"]
    list_select_related = ["lead"]
    show_full_result_count = False


@admin.register(IdealCustomerProfile)
class IdealCustomerProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "updated_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = [
        "prefix",
        "hashed_key",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = ["name", *readonly_fields]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = services.api_key_create(name=obj.name, created_by=request.user)
        obj.pk = key.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {secret}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["owner", "key", "method", "path", "response_status", "created_at"]
    search_fields = ["key"]
