from django.conf import settings
from django.db import models


class ImportJobManager(models.Manager):
    """Never load the file (up to 50 MB) or the full error report unless someone asks for it.

    Pages poll the job every two seconds; they need its counters, not its bytes. Reading
    `job.raw` on an instance from this manager fetches the column on demand.
    """

    def get_queryset(self):
        return super().get_queryset().defer("raw", "error_report")


class ImportJob(models.Model):
    """One uploaded CSV file on its way through mapping, validation and import.

    The raw bytes live in the row (bytea), not on a local disk: the web process that received the
    upload and the Celery worker that validates and imports it may run on different machines, and
    there is no shared MEDIA_ROOT. The price is database size (TOAST keeps it out of the table's
    pages, but backups carry it), so files are capped at MAX_FILE_BYTES and `raw` is emptied once
    the import is done (see services.import_job_apply).
    """

    class Kind(models.TextChoices):
        LEADS = "leads", "Leads"
        INTERACTIONS = "interactions", "Interactions"
        OUTCOMES = "outcomes", "Outcomes"

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded, waiting for the column mapping"
        VALIDATING = "validating", "Validating"
        VALIDATED = "validated", "Valid, ready to import"
        INVALID = "invalid", "Invalid rows found"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UPLOADED)
    filename = models.CharField(max_length=255)
    # The dedupe source for interactions and outcomes (external_id is unique per source).
    source = models.CharField(max_length=100, default="csv-import")
    delimiter = models.CharField(max_length=1, default=",")
    raw = models.BinaryField(editable=False)
    size_bytes = models.PositiveBigIntegerField(default=0)
    headers = models.JSONField(default=list)
    preview = models.JSONField(default=list, help_text="The first rows, for the mapping page")
    mapping = models.JSONField(default=dict, help_text='{"columns": {header: target}, "values": {...}}')

    total_rows = models.PositiveIntegerField(default=0)
    valid_rows = models.PositiveIntegerField(default=0)
    invalid_rows = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0, help_text="Rows validated so far")
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, help_text="The first 1,000 errors, in line order")
    # Every error as a gzipped CSV, for the download; compresses ~20x (the messages repeat).
    error_report = models.BinaryField(default=b"", editable=False)
    result = models.JSONField(default=dict, help_text="created / updated / duplicate counts")
    error = models.TextField(blank=True, help_text="Why the job failed, in words")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Import task runs started")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobManager()

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="importjob_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import of {self.filename} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.VALIDATING, self.Status.IMPORTING)
