"""Imports through the real services: all rows or none, counted, and safe to run twice."""

import gzip
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from handoff.models import StageChange
from imports import services, tasks
from imports.models import ImportJob
from leads.models import Interaction, Lead, Outcome
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

YESTERDAY = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

LEADS_CSV = (
    "E-mail,First Name,Surname,Title,Company,Website,Employees,Country,Lead Score,Opt-in\n"
    'Ana@Acme.io,Ana,Alves,VP Engineering,Acme,https://www.acme.io,"1,200",us,87,yes\n'
    "bo@globex.com,Bo,Berg,Head of Marketing,Globex,globex.com,80,SE,12,no\n"
    "cy@initech.dev,Cy,,CTO,Initech,,,,,\n"
)
LEADS_MAPPING = {
    "columns": {
        "E-mail": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "Title": "job_title",
        "Company": "company.name",
        "Website": "company.domain",
        "Employees": "company.employee_count",
        "Country": "country",
        "Lead Score": "attributes.lead_score",
        "Opt-in": "consent.email_marketing",
    }
}


def run(kind, text, mapping=None, apply=True, **kwargs):
    headers = text.splitlines()[0].split(",")
    return services.import_rows(
        kind=kind,
        text=text,
        delimiter=",",
        mapping=services.normalize_mapping(kind, headers, mapping),
        apply=apply,
        **kwargs,
    )


def test_leads_csv_with_a_good_mapping_imports_every_row_with_fields_company_and_attributes():
    LeadFactory(email="bo@globex.com", first_name="Old", job_title="", company=None)
    report = run("leads", LEADS_CSV, LEADS_MAPPING)
    assert report.applied and (report.rows, report.valid, report.invalid) == (3, 3, 0)
    assert report.counts == {"created": 2, "updated": 1}
    ana = Lead.objects.select_related("company").get(email="ana@acme.io")
    assert (ana.first_name, ana.last_name, ana.job_title, ana.country) == (
        "Ana",
        "Alves",
        "VP Engineering",
        "US",
    )
    assert (ana.company.name, ana.company.domain, ana.company.employee_count) == ("Acme", "acme.io", 1200)
    assert ana.attributes == {"lead_score": "87"}
    assert ana.consent_email_marketing is True
    bo = Lead.objects.get(email="bo@globex.com")
    assert (bo.first_name, bo.job_title, bo.consent_email_marketing) == ("Bo", "Head of Marketing", False)
    cy = Lead.objects.get(email="cy@initech.dev")
    assert cy.last_name == "" and cy.attributes == {}  # empty cells are "not provided"


def test_a_file_with_bad_rows_reports_their_lines_and_fields_and_imports_nothing():
    text = (
        "email,type,occurred_at,external_id\n"
        f"ana@acme.io,page_view,{YESTERDAY},e1\n"
        f"not-an-email,page_view,{YESTERDAY},e2\n"
        f"bo@acme.io,Demo request,{YESTERDAY},e3\n"
        f"cy@acme.io,coffee_break,{YESTERDAY},e4\n"
        "dee@acme.io,page_view,9999-01-01T00:00:00Z,e5\n"
    )
    report = run("interactions", text)
    assert not report.applied
    assert (report.rows, report.valid, report.invalid) == (5, 2, 3)
    assert [(e["line"], e["field"], e["column"]) for e in report.errors] == [
        (3, "email", "email"),
        (5, "type", "type"),
        (6, "occurred_at", "occurred_at"),
    ]
    assert report.errors[0]["value"] == "not-an-email"
    assert "not a valid choice" in report.errors[1]["message"]
    assert "between 2000-01-01" in report.errors[2]["message"]
    # Nothing partial: not even the leads of the valid rows.
    assert Interaction.objects.count() == 0
    assert Lead.objects.count() == 0
    errors_csv = gzip.decompress(report.error_report()).decode()
    assert errors_csv.splitlines()[0] == "line,field,column,value,message"
    assert errors_csv.count("\n") == 4


def test_an_invalid_row_after_the_first_chunk_rolls_the_written_chunk_back():
    rows = [f"lead{i}@acme.io" for i in range(1500)]
    rows[1398] = "broken@"  # line 1,400
    report = run("leads", "email\n" + "\n".join(rows) + "\n")
    assert not report.applied
    assert [(e["line"], e["field"]) for e in report.errors] == [(1400, "email")]
    assert Lead.objects.count() == 0


def test_interactions_create_unknown_leads_and_skip_duplicate_external_ids():
    known = LeadFactory(email="known@acme.io")
    text = (
        "Email,Event Type,Timestamp,Event ID,Page URL\n"
        f"known@acme.io,Page View,{YESTERDAY},e1,/pricing\n"
        f"New@Fresh.io,demo_request,{YESTERDAY},e2,\n"
        f"new@fresh.io,page_view,{YESTERDAY},e1,\n"
    )
    mapping = {"Email": "email", "Event Type": "type", "Timestamp": "occurred_at", "Event ID": "external_id"}
    mapping["Page URL"] = "properties.url"
    first = run("interactions", text, mapping)
    assert first.applied and first.counts == {"created": 2, "duplicate": 1, "leads_created": 1}
    again = run("interactions", text, mapping)
    assert again.applied and again.counts == {"duplicate": 3, "leads_created": 0}
    assert Interaction.objects.count() == 2
    assert Interaction.objects.get(external_id="e1").lead == known
    assert Interaction.objects.get(external_id="e1").properties == {"url": "/pricing"}
    assert Lead.objects.filter(email="new@fresh.io").exists()


def test_outcomes_move_an_sql_to_customer_and_store_history_for_unknown_leads(marketer):
    lead = LeadFactory(email="buyer@acme.io", stage="sql")
    text = (
        "Email,Outcome,Close Date,Deal Value,Deal ID\n"
        f'buyer@acme.io,Won,{YESTERDAY},"12,000.00",deal-1\n'
        "old@history.io,not converted,2019-05-01,,deal-2\n"
    )
    report = run("outcomes", text, actor=marketer)
    assert report.applied, report.errors
    assert report.counts == {"created": 2, "stage_changed": 1, "leads_created": 1}
    assert Lead.objects.get(pk=lead.pk).stage == "customer"
    assert list(StageChange.objects.filter(lead=lead).values_list("action", flat=True).order_by("id")) == [
        "convert",
        "win",
    ]
    assert Outcome.objects.get(external_id="deal-1").amount == 12000
    assert Outcome.objects.get(external_id="deal-2").lead.email == "old@history.io"


def test_outcome_naming_a_missing_lead_id_is_an_error_by_line():
    report = run("outcomes", f"lead_id,result,occurred_at\n999999,won,{YESTERDAY}\n", apply=False)
    assert [(e["line"], e["field"], e["message"]) for e in report.errors] == [
        (2, "lead_id", "No lead with this id.")
    ]


def _job(text, kind="leads"):
    return services.import_job_create(kind=kind, raw=text.encode(), filename="leads.csv", actor=None)


def test_the_celery_tasks_validate_then_apply_once(monkeypatch):
    monkeypatch.setattr(services, "SYNC_VALIDATE_ROWS", 0)  # as for a big file: validation is a task
    job = _job(LEADS_CSV)
    assert job.mapping["columns"]["E-mail"] == "email"
    services.import_job_set_mapping(job_id=job.pk, columns=LEADS_MAPPING["columns"])
    assert ImportJob.objects.get(pk=job.pk).status == "validating"

    tasks.import_job_validate_task(job.pk)
    job.refresh_from_db()
    assert (job.status, job.valid_rows, job.invalid_rows, job.done_rows) == ("validated", 3, 0, 3)

    services.import_job_start(job_id=job.pk)
    assert ImportJob.objects.get(pk=job.pk).status == "importing"
    assert tasks.import_job_apply_task(job.pk) == {"job": job.pk, "applied": True, "created": 3}
    job = ImportJob.objects.defer(None).get(pk=job.pk)
    assert (job.status, job.result, bytes(job.raw)) == ("done", {"created": 3}, b"")
    # Redelivered: a no-op, nothing counted twice.
    assert tasks.import_job_apply_task(job.pk) is None
    assert Lead.objects.count() == 3
    assert ImportJob.objects.get(pk=job.pk).attempts == 1


def test_import_is_refused_while_any_row_is_invalid():
    job = _job("email\nana@acme.io\nnope\n")
    services.import_job_set_mapping(job_id=job.pk, columns={"email": "email"})  # 2 rows: validated inline
    job.refresh_from_db()
    assert (job.status, job.invalid_rows, job.errors[0]["line"]) == ("invalid", 1, 3)
    with pytest.raises(services.ImportRefused, match="1 rows are invalid"):
        services.import_job_start(job_id=job.pk)
    assert ImportJob.objects.get(pk=job.pk).status == "invalid"


def test_a_failure_mid_apply_rolls_everything_back_and_says_so(monkeypatch):
    rows = "\n".join(f"lead{i}@acme.io" for i in range(2500))
    job = _job("email\n" + rows + "\n")
    services.import_job_set_mapping(job_id=job.pk, columns={"email": "email"})  # 2,500 rows: a task
    tasks.import_job_validate_task(job.pk)
    services.import_job_start(job_id=job.pk)
    real, calls = services.leads_upsert, []

    def flaky(*, items):
        calls.append(len(items))
        if len(calls) == 2:
            raise RuntimeError("deadlock detected")
        return real(items=items)

    monkeypatch.setattr(services, "leads_upsert", flaky)
    with pytest.raises(RuntimeError):
        tasks.import_job_apply_task(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "deadlock detected" in job.error and "Nothing was imported" in job.error
    assert calls == [1000, 1000]
    assert Lead.objects.count() == 0


def test_command_imports_a_valid_file(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV, encoding="utf-8")
    out = io.StringIO()
    call_command("import_csv", "leads", str(path), stdout=out, stderr=io.StringIO())
    assert "rows 3, valid 3, invalid 0" in out.getvalue()
    assert "Imported: created 3" in out.getvalue()
    assert "'Lead Score' -> ignore" in out.getvalue()  # auto-mapping does not guess custom data
    assert Lead.objects.count() == 3


def test_command_with_a_mapping_file_and_dry_run_writes_nothing(tmp_path):
    (tmp_path / "leads.csv").write_text(LEADS_CSV, encoding="utf-8")
    (tmp_path / "map.json").write_text('{"E-mail": "email", "Lead Score": "attributes.score"}')
    out = io.StringIO()
    call_command(
        "import_csv",
        "leads",
        str(tmp_path / "leads.csv"),
        mapping=str(tmp_path / "map.json"),
        dry_run=True,
        stdout=out,
    )
    assert "'Lead Score' -> attributes.score" in out.getvalue()
    assert "'Title' -> ignore" in out.getvalue()  # a mapping file names every column it imports
    assert "dry run, nothing written" in out.getvalue()
    assert Lead.objects.count() == 0


def test_command_on_an_invalid_file_prints_line_numbers_and_exits_1(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,country\nana@acme.io,US\nnot-an-email,US\nbo@acme.io,USA\n", encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_csv", "leads", str(path), stdout=out)
    assert raised.value.returncode == 1
    assert "nothing was imported" in str(raised.value)
    assert "line 3: email (column 'email'): Enter a valid email address." in out.getvalue()
    assert "line 4: country (column 'country'):" in out.getvalue()
    assert Lead.objects.count() == 0


def test_a_job_whose_worker_keeps_dying_is_failed_instead_of_retried_forever():
    job = _job(LEADS_CSV)
    ImportJob.objects.filter(pk=job.pk).update(status="importing", attempts=services.MAX_APPLY_ATTEMPTS)
    assert tasks.import_job_apply_task(job.pk) is None
    job.refresh_from_db()
    assert job.status == "failed" and "stopped after 2 attempts" in job.error
    assert Lead.objects.count() == 0


def test_prune_drops_the_bytes_of_stale_uploads_only():
    stale, fresh = _job(LEADS_CSV), _job(LEADS_CSV)
    ImportJob.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert tasks.prune_import_files_task() == 1
    stale = ImportJob.objects.defer(None).get(pk=stale.pk)
    assert (stale.status, stale.size_bytes, bytes(stale.raw)) == ("failed", 0, b"")
    assert "upload it again" in stale.error
    assert bytes(ImportJob.objects.defer(None).get(pk=fresh.pk).raw) == LEADS_CSV.encode()
