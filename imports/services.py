"""CSV imports: inspect an upload, validate every row with the API's serializers, apply all or nothing.

All or nothing. "Nothing partial" is the rule the issue sets, and it is the one people can reason
about: after an import either every row of the file is in leadqual or none is, so fixing the file
and uploading it again never doubles or half-applies anything. Two guards make it true:

1. Validation first: the whole file is run through LeadInSerializer / InteractionInSerializer /
   OutcomeInSerializer (the API's rules, not a copy), and "Import" is refused while one row is
   invalid.
2. The apply runs in ONE database transaction, in chunks of 1,000 rows through the real services
   (leads_upsert, interactions_record, outcomes_record). Every row is validated again as it is
   applied (a lead named by id may have been deleted since); if any row fails, or anything raises
   mid-way (a bug, a deadlock, the soft time limit), the transaction rolls back and nothing of the
   file remains. Files are capped at MAX_ROWS (100,000) rows so that transaction stays a few
   minutes long at most. Its cost: while it runs, the leads it has written are row-locked, so an
   API upsert of the same e-mail waits for the import to commit; rescoring is scheduled on commit.

Progress of the apply is written to the cache (Redis), not the job row: the row is inside the
import's transaction and other connections would not see its updates until the end.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from handoff.api.outcomes import _resolve_leads
from handoff.outcomes import outcomes_record
from leads.api.serializers import InteractionInSerializer, LeadInSerializer, OutcomeInSerializer, RowValidator
from leads.models import Lead, Outcome
from leads.services import interactions_record, leads_upsert
from leads.vocabulary import InteractionType

from . import parsing
from .models import ImportJob

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000
CHUNK_ROWS = 1_000
ERRORS_KEPT = 1_000
# Up to this many rows the browser waits for validation (well under a second); above, a task.
SYNC_VALIDATE_ROWS = 1_000
MAX_APPLY_ATTEMPTS = 2
DEFAULT_SOURCE = "csv-import"

SERIALIZERS = {
    "leads": LeadInSerializer,
    "interactions": InteractionInSerializer,
    "outcomes": OutcomeInSerializer,
}
CHOICES = {
    "leads": {},
    "interactions": {"type": list(InteractionType.choices)},
    "outcomes": {"result": list(Outcome.Result.choices)},
}
ERROR_COLUMNS = ("line", "field", "column", "value", "message")


class ImportRefused(Exception):
    """A request the job's state does not allow (import an invalid file, remap a running job)."""


@dataclass(frozen=True)
class Inspection:
    text: str
    delimiter: str
    headers: list[str]
    preview: list[list[str]]
    rows: int


@dataclass
class Report:
    """What a run over the file found and did."""

    kind: str
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    applied: bool = False
    _buffer: io.BytesIO = field(default_factory=io.BytesIO, repr=False)

    def __post_init__(self):
        self._gzip = gzip.GzipFile(fileobj=self._buffer, mode="wb", mtime=0)
        self._text = io.TextIOWrapper(self._gzip, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow(ERROR_COLUMNS)

    def add_errors(self, line: int, errors: list[dict[str, str]]) -> None:
        self.invalid += 1
        for error in errors:
            entry = {"line": line, **error}
            self.error_count += 1
            if len(self.errors) < ERRORS_KEPT:
                self.errors.append(entry)
            self._csv.writerow([parsing.spreadsheet_safe(entry[c]) for c in ERROR_COLUMNS])

    def error_report(self) -> bytes:
        """Every error as a gzipped CSV (closes the writer)."""
        if not self._gzip.closed:
            self._text.flush()
            self._text.detach()
            self._gzip.close()
        return self._buffer.getvalue()


def inspect_csv(raw: bytes, delimiter: str | None = None) -> Inspection:
    """Decode, find the delimiter and the header, count the rows. Raises parsing.CsvError."""
    if len(raw) > MAX_FILE_BYTES:
        raise parsing.CsvError(
            f"The file is {len(raw) / 1024 / 1024:.0f} MB; the limit is {MAX_FILE_BYTES // 1024 // 1024} MB."
            " Split it into smaller files."
        )
    text = parsing.decode(raw)
    delimiter = delimiter or parsing.detect_delimiter(text)
    headers = parsing.read_headers(text, delimiter)
    preview, rows = [], 0
    for row in parsing.read_rows(text, delimiter):
        rows += 1
        if rows <= parsing.PREVIEW_ROWS:
            preview.append(row.cells[: len(headers)] + [""] * (len(headers) - len(row.cells)))
        if rows > MAX_ROWS:
            raise parsing.CsvError(
                f"The file has more than {MAX_ROWS:,} rows; split it into files of at most {MAX_ROWS:,}"
                " (an import is applied in one transaction, all rows or none)."
            )
    if rows == 0:
        raise parsing.CsvError("The file has a header but no rows to import.")
    return Inspection(text, delimiter, headers, preview, rows)


def normalize_mapping(kind: str, headers: list[str], mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """{"columns": {header: target}, "values": {target: {cell: value}}}; auto-mapped when absent.

    A plain {header: target} object is accepted too (the management command's short form).
    Columns the mapping does not mention are not imported.
    """
    if not mapping:
        return {"columns": parsing.auto_map(kind, headers), "values": {}}
    if "columns" in mapping and isinstance(mapping["columns"], dict):
        columns, values = dict(mapping["columns"]), dict(mapping.get("values") or {})
    else:
        columns, values = dict(mapping), {}
    return {"columns": {h: columns.get(h, parsing.IGNORE) for h in headers} | columns, "values": values}


def _plan(kind: str, headers: list[str], mapping: Mapping[str, Any]) -> parsing.Plan:
    return parsing.Plan(
        kind=kind,
        headers=headers,
        columns=mapping["columns"],
        choices=CHOICES[kind],
        values=mapping.get("values") or {},
    )


class _RollBack(Exception):
    def __init__(self, report: Report):
        self.report = report


def import_rows(
    *,
    kind: str,
    text: str,
    delimiter: str,
    mapping: Mapping[str, Any],
    apply: bool,
    actor=None,
    source: str = DEFAULT_SOURCE,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Validate every row; with apply=True also write them, all in one transaction or not at all.

    Invariant: when the report says applied=False, the database is as it was before the call.
    Raises parsing.CsvError for a file that cannot be read, ValueError for an unusable mapping.
    """
    headers = parsing.read_headers(text, delimiter)
    problems = parsing.mapping_problems(kind, headers, mapping["columns"])
    if problems:
        raise ValueError(" ".join(problems))
    plan = _plan(kind, headers, mapping)
    if not apply:
        return _run(kind, text, delimiter, plan, write=False, actor=actor, source=source, progress=progress)
    try:
        with transaction.atomic():
            report = _run(
                kind, text, delimiter, plan, write=True, actor=actor, source=source, progress=progress
            )
            if report.invalid:
                raise _RollBack(report)
    except _RollBack as rollback:
        return rollback.report
    report.applied = True
    return report


def _run(kind, text, delimiter, plan, *, write, actor, source, progress) -> Report:
    validate = RowValidator(SERIALIZERS[kind])
    report = Report(kind)
    seen_emails: set[str] = set()
    rows = parsing.read_rows(text, delimiter)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        checked: list[tuple[int, dict | None, list]] = []
        for row in chunk:
            item, errors = plan.build(row.cells)
            if errors:
                checked.append((row.line, None, errors))
                continue
            data, errors = validate(item)
            if data is not None:
                checked.append((row.line, data, []))
            else:
                checked.append((row.line, None, plan.describe(parsing.flatten_errors(errors), row.cells)))
        checked = _check_lead_ids(checked)
        valid = [(line, data) for line, data, errors in checked if data is not None]
        for line, data, errors in checked:
            if data is None:
                report.add_errors(line, errors)
        report.rows += len(chunk)
        report.valid += len(valid)
        # After the first invalid row nothing more is written: the transaction will roll back,
        # but the rest of the file is still validated so the report lists every error.
        if write and not report.invalid and valid:
            _write(kind, valid, actor=actor, source=source, report=report, seen_emails=seen_emails)
        if progress:
            progress(report.rows)
    return report


def _check_lead_ids(checked):
    ids = {data["lead_id"] for _, data, _ in checked if data and data.get("lead_id")}
    if not ids:
        return checked
    known = set(Lead.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return [
        (
            line,
            None,
            [
                {
                    "field": "lead_id",
                    "column": "",
                    "value": str(data["lead_id"]),
                    "message": "No lead with this id.",
                }
            ],
        )
        if data and data.get("lead_id") and data["lead_id"] not in known
        else (line, data, errors)
        for line, data, errors in checked
    ]


def _count(report: Report, key: str, n: int = 1) -> None:
    report.counts[key] = report.counts.get(key, 0) + n


def _write(kind, valid, *, actor, source, report: Report, seen_emails: set[str]) -> None:
    items = [data for _, data in valid]
    if kind == "leads":
        for item, outcome in zip(items, leads_upsert(items=items), strict=True):
            if item["email"] in seen_emails:
                _count(report, "repeated")  # merged into the lead an earlier row named
            else:
                _count(report, "created" if outcome.created else "updated")
                seen_emails.add(item["email"])
    elif kind == "interactions":
        new_leads = set()
        for outcome in interactions_record(items=items, source=source):
            _count(report, outcome.status)  # "created" / "duplicate"
            if outcome.lead_created:
                new_leads.add(outcome.lead_id)
        _count(report, "leads_created", len(new_leads))
    else:
        emails = {d["email"] for d in items if d.get("email")}
        known = set(Lead.objects.filter(email__in=emails).values_list("email", flat=True))
        _count(report, "leads_created", len(emails - known))
        resolved = [d for _, d in _resolve_leads(list(enumerate(items)))]
        for result in outcomes_record(items=resolved, actor=actor, source=source):
            _count(report, result.status)
            if result.applied:
                _count(report, "stage_changed")


# --- jobs: the browser flow -----------------------------------------------------------------------


def import_job_create(
    *, kind: str, raw: bytes, filename: str, actor, delimiter: str | None = None, source: str = ""
) -> ImportJob:
    """Store an upload with its header, a preview and the automatic mapping. Raises parsing.CsvError."""
    inspection = inspect_csv(raw, delimiter)
    return ImportJob.objects.create(
        kind=kind,
        filename=filename[:255],
        source=source or DEFAULT_SOURCE,
        delimiter=inspection.delimiter,
        raw=raw,
        size_bytes=len(raw),
        headers=inspection.headers,
        preview=inspection.preview,
        mapping=normalize_mapping(kind, inspection.headers, None),
        total_rows=inspection.rows,
        created_by=actor if getattr(actor, "pk", None) else None,
    )


@transaction.atomic
def import_job_set_mapping(*, job_id: int, columns: Mapping[str, str]) -> ImportJob:
    """Save the mapping and validate the file: inline when small, else in a Celery task.

    Raises ValueError with the problems of an unusable mapping, ImportRefused while the job runs.
    """
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status in (ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING, ImportJob.Status.DONE):
        raise ImportRefused(f"This import is {job.get_status_display().lower()}; its mapping is fixed.")
    mapping = normalize_mapping(
        job.kind, job.headers, {"columns": dict(columns), "values": job.mapping.get("values", {})}
    )
    problems = parsing.mapping_problems(job.kind, job.headers, mapping["columns"])
    if problems:
        raise ValueError(" ".join(problems))
    job.mapping = mapping
    job.status = ImportJob.Status.VALIDATING
    job.valid_rows = job.invalid_rows = job.done_rows = job.error_count = 0
    job.errors, job.error_report, job.error, job.result = [], b"", "", {}
    job.validated_at = job.started_at = job.finished_at = None
    job.save()
    if job.total_rows <= SYNC_VALIDATE_ROWS:
        import_job_validate(job_id=job.pk)
        job.refresh_from_db()
    else:
        from .tasks import import_job_validate_task

        _enqueue_after_commit(import_job_validate_task, job.pk, ImportJob.Status.VALIDATING)
    return job


def import_job_validate(*, job_id: int) -> None:
    """Run the whole file through validation and record the report. A no-op unless VALIDATING."""
    job = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.VALIDATING).first()
    if job is None:
        return

    def progress(done: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(done_rows=done)

    try:
        report = import_rows(
            kind=job.kind,
            text=parsing.decode(bytes(job.raw)),
            delimiter=job.delimiter,
            mapping=job.mapping,
            apply=False,
            progress=progress,
        )
    except Exception as exc:  # noqa: BLE001 - recorded on the job; the person sees it
        log.exception("validation of import %s failed", job_id)
        _fail(job_id, ImportJob.Status.VALIDATING, exc)
        return
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.VALIDATING).update(
        status=ImportJob.Status.INVALID if report.invalid else ImportJob.Status.VALIDATED,
        total_rows=report.rows,
        valid_rows=report.valid,
        invalid_rows=report.invalid,
        done_rows=report.rows,
        error_count=report.error_count,
        errors=report.errors,
        error_report=report.error_report(),
        validated_at=timezone.now(),
        updated_at=timezone.now(),
    )


def import_job_start(*, job_id: int) -> None:
    """Queue the import of a fully valid file. Raises ImportRefused otherwise."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        ready = (
            job.status in (ImportJob.Status.VALIDATED, ImportJob.Status.FAILED)
            and job.validated_at is not None
            and job.invalid_rows == 0
            and job.valid_rows == job.total_rows > 0
            and job.size_bytes > 0
        )
        if not ready:
            if job.invalid_rows:
                raise ImportRefused(
                    f"{job.invalid_rows:,} rows are invalid. Nothing is imported until every row is valid:"
                    " fix the file and upload it again."
                )
            raise ImportRefused(f"This import is {job.get_status_display().lower()}; it cannot start now.")
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.IMPORTING, attempts=0, error="", started_at=timezone.now()
        )
        cache.set(progress_key(job_id), 0, timeout=86400)
        from .tasks import import_job_apply_task

        _enqueue_after_commit(import_job_apply_task, job_id, ImportJob.Status.IMPORTING)


def import_job_apply(*, job_id: int) -> Report | None:
    """Apply a validated job. Safe to run twice: only an IMPORTING job is applied, and it becomes
    DONE in the same transaction as its rows, so a redelivered task finds it done and stops.
    """
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.IMPORTING).update(attempts=F("attempts") + 1)
    job = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.IMPORTING).first()
    if job is None:
        return None
    if job.attempts > MAX_APPLY_ATTEMPTS:
        # A worker killed by the hard time limit is redelivered; do not loop on it forever.
        _fail(
            job_id, ImportJob.Status.IMPORTING, RuntimeError(f"stopped after {MAX_APPLY_ATTEMPTS} attempts")
        )
        return None

    def progress(done: int) -> None:
        cache.set(progress_key(job_id), done, timeout=86400)

    try:
        with transaction.atomic():
            locked = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.IMPORTING)
            if locked.select_for_update().only("pk").first() is None:
                return None  # a concurrent run of the same task finished it while we waited
            report = import_rows(
                kind=job.kind,
                text=parsing.decode(bytes(job.raw)),
                delimiter=job.delimiter,
                mapping=job.mapping,
                apply=True,
                actor=job.created_by,
                source=job.source,
                progress=progress,
            )
            now = timezone.now()
            if not report.applied:
                # Something changed since validation (a lead id deleted, an event now too old).
                locked.update(
                    status=ImportJob.Status.INVALID,
                    valid_rows=report.valid,
                    invalid_rows=report.invalid,
                    error_count=report.error_count,
                    errors=report.errors,
                    error_report=report.error_report(),
                    error="Rows became invalid after validation; nothing was imported.",
                    finished_at=now,
                    updated_at=now,
                )
            else:
                locked.update(
                    status=ImportJob.Status.DONE,
                    result=report.counts,
                    done_rows=report.rows,
                    raw=b"",  # the rows are in leadqual now; keep the database lean
                    finished_at=now,
                    updated_at=now,
                )
    except Exception as exc:  # noqa: BLE001 - rolled back; recorded on the job, then re-raised for the log
        _fail(job_id, ImportJob.Status.IMPORTING, exc)
        raise
    return report


def _fail(job_id: int, expected: str, exc: BaseException) -> None:
    what = "Validation" if expected == ImportJob.Status.VALIDATING else "The import"
    now = timezone.now()
    nothing = (
        ""
        if expected == ImportJob.Status.VALIDATING
        else " Nothing was imported (the transaction was rolled back)."
    )
    ImportJob.objects.filter(pk=job_id, status=expected).update(
        status=ImportJob.Status.FAILED,
        error=f"{what} failed: {str(exc).rstrip('.')}.{nothing}",
        finished_at=now,
        updated_at=now,
    )


def _enqueue_after_commit(task, job_id: int, status: str) -> None:
    def send():
        try:
            task.delay(job_id)
        except Exception as exc:  # noqa: BLE001 - the broker is down; say so instead of waiting forever
            log.warning("could not queue %s for import %s", task.name, job_id)
            _fail(
                job_id,
                status,
                RuntimeError(f"the task queue is unavailable ({exc.__class__.__name__}); try again"),
            )

    transaction.on_commit(send)


def progress_key(job_id: int) -> str:
    return f"imports:job:{job_id}:applied"


def job_progress(job: ImportJob) -> tuple[int, int]:
    """(done, total) rows for the progress bar of a running job."""
    if job.status == ImportJob.Status.IMPORTING:
        return int(cache.get(progress_key(job.pk)) or 0), job.total_rows
    return job.done_rows, job.total_rows


def import_files_prune(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Drop the bytes of uploads nobody imported within a week; their counters and errors stay.

    Not scheduled by itself: add `imports.tasks.prune_import_files_task` to CELERY_BEAT_SCHEDULE.
    """
    cutoff = timezone.now() - older_than
    return (
        ImportJob.objects.filter(created_at__lt=cutoff)
        .exclude(status__in=[ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING, ImportJob.Status.DONE])
        .exclude(size_bytes=0)
        .update(
            raw=b"",
            size_bytes=0,
            status=ImportJob.Status.FAILED,
            error=f"The file was removed after {older_than.days} days; upload it again.",
            updated_at=timezone.now(),
        )
    )
