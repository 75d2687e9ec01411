"""Pages for CSV import (marketing, admin) and the lead export (marketing, sales, admin).

upload -> mapping -> validation report -> import -> result, all on /imports/<id>/ and its forms.
Each view checks the role, validates a form and calls one service.
"""

from __future__ import annotations

import gzip

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads.api.permissions import require_roles

from . import export, services
from .forms import MappingForm, UploadForm
from .models import ImportJob

ERRORS_SHOWN = 200


@login_required
def upload(request):
    require_roles(request, "marketing")
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = services.import_job_create(
            kind=form.cleaned_data["kind"],
            raw=form.raw,
            filename=form.cleaned_data["file"].name,
            actor=request.user,
            delimiter=form.inspection.delimiter,
            source=form.cleaned_data.get("source") or "",
        )
        return redirect("import-mapping", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by").order_by("-created_at")[:20]
    return render(request, "imports/upload.html", {"form": form, "jobs": jobs})


@login_required
def mapping(request, pk):
    require_roles(request, "marketing")
    job = get_object_or_404(ImportJob, pk=pk)
    if job.status in (ImportJob.Status.IMPORTING, ImportJob.Status.DONE):
        return redirect("import-job", pk=pk)
    form = MappingForm(request.POST or None, job=job)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            services.import_job_set_mapping(job_id=job.pk, columns=form.columns())
        except ValueError as exc:
            problems = [str(exc)]
        except services.ImportRefused as exc:
            messages.error(request, str(exc))
            return redirect("import-job", pk=pk)
        else:
            return redirect("import-job", pk=pk)
    return render(
        request,
        "imports/mapping.html",
        {"job": job, "form": form, "problems": problems, "delimiter": _delimiter_name(job.delimiter)},
    )


@login_required
def job_detail(request, pk):
    require_roles(request, "marketing")
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    done, total = services.job_progress(job)
    percent = 100 if not total else min(100, round(100 * done / total))
    result = [(k.replace("_", " "), v) for k, v in sorted(job.result.items())]
    took = None
    if job.started_at and job.finished_at:
        took = f"{(job.finished_at - job.started_at).total_seconds():.1f} s"
    return render(
        request,
        "imports/job.html",
        {
            "job": job,
            "done": done,
            "total": total,
            "percent": percent,
            "errors": job.errors[:ERRORS_SHOWN],
            "errors_shown": ERRORS_SHOWN,
            "result": result,
            "took": took,
            "can_import": job.status == ImportJob.Status.VALIDATED and job.invalid_rows == 0,
            "can_remap": job.status
            in (
                ImportJob.Status.UPLOADED,
                ImportJob.Status.VALIDATED,
                ImportJob.Status.INVALID,
                ImportJob.Status.FAILED,
            ),
        },
    )


@login_required
@require_POST
def job_import(request, pk):
    require_roles(request, "marketing")
    job = get_object_or_404(ImportJob, pk=pk)
    try:
        services.import_job_start(job_id=job.pk)
    except services.ImportRefused as exc:
        messages.error(request, str(exc))
    return redirect("import-job", pk=pk)


@login_required
def job_errors(request, pk):
    """Every error of the last validation as CSV (the page shows the first 200)."""
    require_roles(request, "marketing")
    job = get_object_or_404(ImportJob.objects.only("pk", "error_report"), pk=pk)
    body = gzip.decompress(bytes(job.error_report)) if job.error_report else b""
    if not body:
        body = ",".join(services.ERROR_COLUMNS).encode() + b"\r\n"
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


@login_required
def leads_export(request):
    require_roles(request, "marketing", "sales")
    leads, errors = export.export_queryset(request.GET)
    if leads is None:
        return JsonResponse({"detail": "Invalid filters.", "errors": errors}, status=400)
    response = StreamingHttpResponse(export.export_lines(leads), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, repr(delimiter))
