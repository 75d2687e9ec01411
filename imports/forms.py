from django import forms

from . import parsing, services
from .models import ImportJob

DELIMITER_CHOICES = [
    ("", "Detect automatically"),
    (",", "Comma ( , )"),
    (";", "Semicolon ( ; )"),
    ("\t", "Tab"),
    ("|", "Pipe ( | )"),
]


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds", choices=ImportJob.Kind.choices)
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8 text, up to {services.MAX_FILE_BYTES // 1024 // 1024} MB"
        f" and {services.MAX_ROWS:,} rows; the first line names the columns.",
    )
    delimiter = forms.ChoiceField(label="Delimiter", choices=DELIMITER_CHOICES, required=False)
    source = forms.CharField(
        label="Source name",
        max_length=100,
        required=False,
        initial=services.DEFAULT_SOURCE,
        help_text="Interactions and outcomes are de-duplicated by external id per source; keep the same"
        " name when you import more files from the same system.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # Django has already spooled it to a temporary file; refuse before reading it into memory.
        if upload.size > services.MAX_FILE_BYTES:
            limit = services.MAX_FILE_BYTES // 1024 // 1024
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.0f} MB; the limit is {limit} MB. Split it into"
                " smaller files."
            )
        raw = upload.read()
        try:
            self.inspection = services.inspect_csv(raw, self.data.get("delimiter") or None)
        except parsing.CsvError as exc:
            raise forms.ValidationError(str(exc)) from exc
        self.raw = raw
        return upload


class MappingForm(forms.Form):
    """One labelled select per CSV column; the field names are col_0, col_1, ... (headers may be
    anything, including characters a form field name cannot hold)."""

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        columns = job.mapping.get("columns", {})
        for index, header in enumerate(job.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header,
                choices=parsing.target_choices(job.kind, header),
                initial=columns.get(header, parsing.IGNORE),
            )

    def rows(self):
        """(header, bound field, preview values) per column, for the template."""
        return [
            (header, self[f"col_{i}"], [row[i] if i < len(row) else "" for row in self.job.preview])
            for i, header in enumerate(self.job.headers)
        ]

    def columns(self) -> dict[str, str]:
        return {header: self.cleaned_data[f"col_{i}"] for i, header in enumerate(self.job.headers)}
