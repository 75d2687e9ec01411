from django.contrib import admin

from .models import RescoreChunk, RescoreJob, ScoreChange, ScoringModel


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    list_display = ["version", "name", "status", "activated_at", "retired_at"]
    list_filter = ["status"]
    # Status moves only through the services (activation rescores every lead); edit drafts at /scoring/.
    readonly_fields = [
        "version",
        "status",
        "activated_at",
        "retired_at",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        # An active or retired model has scored leads, and their explanations read its labels:
        # its definition is history. A change is a new draft, activated (and so versioned).
        if obj is not None and obj.status != ScoringModel.Status.DRAFT:
            return [*self.readonly_fields, "name", "definition"]
        return self.readonly_fields


@admin.register(ScoreChange)
class ScoreChangeAdmin(admin.ModelAdmin):
    list_display = ["lead", "computed_at", "cause", "kind", "label", "points", "score_after"]
    list_filter = ["cause", "kind"]
    raw_id_fields = ["lead", "interaction"]
    list_select_related = ["lead", "model"]
    show_full_result_count = False

    # The ledger is append-only.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RescoreChunkInline(admin.TabularInline):
    model = RescoreChunk
    extra = 0
    readonly_fields = ["first_lead_id", "last_lead_id", "size", "done_at"]
    can_delete = False


@admin.register(RescoreJob)
class RescoreJobAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "status", "done", "total", "promoted", "created_at", "finished_at"]
    readonly_fields = ["model", "status", "total", "done", "promoted", "error", "started_at", "finished_at"]
