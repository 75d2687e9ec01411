import json
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from imports import parsing, services

ERRORS_PRINTED = 200


class Command(BaseCommand):
    help = (
        "Import a CSV of leads, interactions or outcomes: every row is validated with the API's rules"
        " and the file is applied in one transaction only when all rows are valid (exit code 1 if not)."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=parsing.KINDS)
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--mapping",
            type=Path,
            help='JSON: {"header": "target", ...} or {"columns": {...}, "values": {"type": {"Webinar":'
            ' "webinar_attendance"}}}. Without it, columns are matched by name; unmatched ones are skipped.',
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")
        parser.add_argument("--delimiter", help="Default: detected (comma, semicolon, tab or pipe).")
        parser.add_argument("--source", default=services.DEFAULT_SOURCE, help="De-duplication source name.")
        parser.add_argument("--user", help="Username recorded as the actor of outcome stage changes.")

    def handle(self, *args, kind, file, mapping, dry_run, delimiter, source, user, **options):
        started = time.monotonic()
        file = Path(file)  # call_command(...) passes keyword options unconverted
        mapping = Path(mapping) if mapping else None
        try:
            inspection = services.inspect_csv(file.read_bytes(), delimiter)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        except parsing.CsvError as exc:
            raise CommandError(str(exc)) from exc
        given = None
        if mapping:
            try:
                given = json.loads(mapping.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the mapping {mapping}: {exc}") from exc
        resolved = services.normalize_mapping(kind, inspection.headers, given)
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"No user {user!r}.")

        self.stdout.write(f"{file.name}: {inspection.rows:,} rows, delimiter {inspection.delimiter!r}")
        for header in inspection.headers:
            self.stdout.write(f"  {header!r:>32} -> {resolved['columns'].get(header, parsing.IGNORE)}")
        problems = parsing.mapping_problems(kind, inspection.headers, resolved["columns"])
        if problems:
            raise CommandError("The mapping cannot be used: " + " ".join(problems))

        last = [0.0]

        def progress(done: int) -> None:
            if time.monotonic() - last[0] > 5:
                last[0] = time.monotonic()
                self.stderr.write(f"  {done:,} / {inspection.rows:,} rows")

        report = services.import_rows(
            kind=kind,
            text=inspection.text,
            delimiter=inspection.delimiter,
            mapping=resolved,
            apply=not dry_run,
            actor=actor,
            source=source,
            progress=progress,
        )
        elapsed = time.monotonic() - started
        self.stdout.write(f"rows {report.rows:,}, valid {report.valid:,}, invalid {report.invalid:,}")
        for error in report.errors[:ERRORS_PRINTED]:
            where = error["field"] or "row"
            column = f" (column {error['column']!r})" if error["column"] else ""
            self.stdout.write(f"  line {error['line']}: {where}{column}: {error['message']}")
        if report.error_count > ERRORS_PRINTED:
            self.stdout.write(f"  … and {report.error_count - ERRORS_PRINTED:,} more errors")
        if report.invalid:
            raise CommandError(
                f"{report.invalid:,} invalid rows: nothing was imported ({elapsed:.1f} s).", returncode=1
            )
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Valid; dry run, nothing written ({elapsed:.1f} s)."))
            return
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(report.counts.items())) or "no changes"
        self.stdout.write(self.style.SUCCESS(f"Imported: {counts} ({elapsed:.1f} s)."))
