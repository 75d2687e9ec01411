from django.contrib import admin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Read-only: jobs change only through the import flow (its guards keep it all-or-nothing)."""

    list_display = [
        "id",
        "kind",
        "filename",
        "status",
        "total_rows",
        "invalid_rows",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["filename"]
    list_select_related = ["created_by"]
    exclude = ["raw", "error_report"]
    readonly_fields = [
        "kind",
        "status",
        "filename",
        "source",
        "delimiter",
        "size_bytes",
        "headers",
        "mapping",
        "total_rows",
        "valid_rows",
        "invalid_rows",
        "done_rows",
        "error_count",
        "errors",
        "result",
        "error",
        "attempts",
        "created_by",
        "created_at",
        "validated_at",
        "started_at",
        "finished_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
