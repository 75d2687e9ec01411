"""The browser flow (upload -> mapping -> report -> import -> result), roles, and the CSV export."""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports import services
from imports.models import ImportJob
from leads.models import Lead
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

LEADS_CSV = (
    "\ufeffE-mail;First Name;Company;Title;Lead Score\n"
    "ana@acme.io;Ana;Acme;VP Engineering;87\n"
    "bo@globex.com;Bo;Globex;CMO;12\n"
    "cy@initech.dev;Cy;Initech;CTO;40\n"
).encode()


def upload(client, content, name="leads.csv", kind="leads"):
    return client.post("/imports/", {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")})


def test_the_whole_flow_through_celery_tasks(
    client, marketer, eager_celery, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "SYNC_VALIDATE_ROWS", 0)  # as for a big file: both steps are tasks
    client.force_login(marketer)
    response = upload(client, LEADS_CSV)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/mapping/"

    page = client.get(f"/imports/{job.pk}/mapping/").content.decode()
    assert "semicolon-separated" in page
    assert re.search(r'<label for="id_col_0">E-mail</label>', page)
    assert re.search(r'<select name="col_0"[^>]*>.*?<option value="email" selected>', page, re.S)
    assert re.search(r'<select name="col_3"[^>]*>.*?<option value="job_title" selected>', page, re.S)
    assert "VP Engineering" in page  # the preview
    assert 'value="attributes.lead_score"' in page

    mapping = {"col_0": "email", "col_1": "first_name", "col_2": "company.name", "col_3": "job_title"}
    mapping["col_4"] = "attributes.lead_score"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imports/{job.pk}/mapping/", mapping)
    assert response["Location"] == f"/imports/{job.pk}/"
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Validation report" in page and "Every row is valid." in page
    assert re.search(r'<button type="submit" class="primary">Import 3 rows</button>', page)
    assert Lead.objects.count() == 0  # validated, not yet imported

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imports/{job.pk}/import/")
    job.refresh_from_db()
    assert (job.status, job.result) == ("done", {"created": 3})
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "All 3 rows were applied" in page and 'http-equiv="refresh"' not in page
    assert Lead.objects.get(email="ana@acme.io").attributes == {"lead_score": "87"}


def test_a_running_job_shows_a_self_refreshing_progress_bar(client, marketer):
    job = services.import_job_create(kind="leads", raw=b"email\na@b.io\n", filename="x.csv", actor=marketer)
    ImportJob.objects.filter(pk=job.pk).update(status="validating", done_rows=1, total_rows=4)
    client.force_login(marketer)
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert '<progress id="import-progress" max="100" value="25">' in page
    assert "Validated 1 of 4 rows (25%)" in page


def test_invalid_rows_are_listed_by_line_with_a_download_and_import_stays_off(client, marketer):
    client.force_login(marketer)
    upload(client, b"email,country\nana@acme.io,US\nbroken,US\nbo@acme.io,=cmd|' /C calc'!A0\n")
    job = ImportJob.objects.get()
    client.post(f"/imports/{job.pk}/mapping/", {"col_0": "email", "col_1": "country"})  # 3 rows: inline
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Nothing will be imported" in page
    assert '<button type="button" disabled>Import</button>' in page
    assert re.search(r'<td class="num">3</td><td><code>email</code></td>', page)
    assert re.search(r'<td class="num">4</td><td><code>country</code></td>', page)
    response = client.post(f"/imports/{job.pk}/import/", follow=True)
    assert "2 rows are invalid" in response.content.decode()
    assert ImportJob.objects.get().status == "invalid" and Lead.objects.count() == 0
    errors = list(csv.reader(io.StringIO(client.get(f"/imports/{job.pk}/errors.csv").content.decode())))
    assert errors[0] == ["line", "field", "column", "value", "message"]
    assert [row[:2] for row in errors[1:]] == [["3", "email"], ["4", "country"]]
    assert errors[2][3].startswith("'=cmd")  # the error report is defused too


def test_upload_errors_are_shown_on_the_form(client, marketer, monkeypatch):
    client.force_login(marketer)
    page = upload(client, "email\nj\xe9r\xf4me@acme.io\n".encode("latin-1")).content.decode()
    assert "not UTF-8 text" in page and ImportJob.objects.count() == 0
    monkeypatch.setattr(services, "MAX_FILE_BYTES", 10)
    page = upload(client, b"email\nana@acme.io\n").content.decode()
    assert "Split it into smaller files" in page
    monkeypatch.setattr(services, "MAX_FILE_BYTES", 50 * 1024 * 1024)
    monkeypatch.setattr(services, "MAX_ROWS", 2)
    page = upload(client, b"email\na@x.io\nb@x.io\nc@x.io\n").content.decode()
    assert "more than 2 rows" in page and ImportJob.objects.count() == 0


def test_mapping_without_an_email_column_is_refused_with_a_reason(client, marketer):
    client.force_login(marketer)
    upload(client, b"Mail,Name\nana@acme.io,Ana\n")
    job = ImportJob.objects.get()
    page = client.post(
        f"/imports/{job.pk}/mapping/", {"col_0": "ignore", "col_1": "first_name"}
    ).content.decode()
    assert "Map a column to E-mail" in page
    assert ImportJob.objects.get().status == "uploaded"


@pytest.mark.parametrize(
    ("role", "status"), [("marketing", 200), ("admin", 200), ("sales", 403), (None, 403), ("anonymous", 302)]
)
def test_import_pages_are_for_marketing_and_admin(client, role, status):
    job = services.import_job_create(kind="leads", raw=b"email\na@b.io\n", filename="x.csv", actor=None)
    if role != "anonymous":
        client.force_login(UserFactory(roles=[role] if role else []))
    for url in ("/imports/", f"/imports/{job.pk}/", f"/imports/{job.pk}/mapping/"):
        response = client.get(url)
        assert response.status_code == status, url
        if status == 302:
            assert response["Location"].startswith("/accounts/login/")


def _export(client, query):
    response = client.get(f"/leads/export.csv?{query}")
    assert response.status_code == 200, response.content
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_export_honours_the_api_filters_and_defuses_formulas(client, as_user, sdr):
    wanted = LeadFactory(
        stage="mql", fit_grade="A", first_name='=HYPERLINK("http://x.io","hi")', engagement_score=-5
    )
    also = LeadFactory(stage="sql", fit_grade="A", score=70)
    LeadFactory(stage="mql", fit_grade="C")
    LeadFactory(stage="lead", fit_grade="A")
    client.force_login(sdr)
    rows = _export(client, "stage=mql&stage=sql&fit_grade=A")
    assert [r["email"] for r in rows] == [also.email, wanted.email]  # newest first, as the API
    row = {r["email"]: r for r in rows}[wanted.email]
    assert row["first_name"] == '\'=HYPERLINK("http://x.io","hi")'
    assert row["engagement_score"] == "-5"  # numbers are not "formulas"
    assert (row["stage"], row["fit_grade"], row["company_domain"]) == ("mql", "A", wanted.company.domain)
    api = as_user(sdr).get("/api/v1/leads/?stage=mql&stage=sql&fit_grade=A").json()
    assert [lead["email"] for lead in api["results"]] == [r["email"] for r in rows]
    assert [r["email"] for r in _export(client, "stage=sql&ordering=-score")] == [also.email]


def test_export_of_the_mql_queue_leaves_out_handed_off_leads_and_bad_filters_are_a_400(client, marketer, sdr):
    waiting = LeadFactory(stage="mql", fit_grade="B", score=80)
    LeadFactory(stage="mql", fit_grade="B", handed_off_at="2026-11-01T10:00:00Z", owner=sdr)
    client.force_login(marketer)
    page = client.get("/queues/mql/?fit_grade=B&sort=score").content.decode()
    assert 'href="/leads/export.csv?stage=mql&amp;handed_off=false&amp;fit_grade=B&amp;sort=score"' in page
    assert [r["email"] for r in _export(client, "stage=mql&handed_off=false&fit_grade=B&sort=score")] == [
        waiting.email
    ]
    response = client.get("/leads/export.csv?stage=nonsense")
    assert response.status_code == 400 and "stage" in response.json()["errors"]


@pytest.mark.parametrize(
    ("role", "status"), [("sales", 200), ("marketing", 200), (None, 403), ("anonymous", 302)]
)
def test_export_is_for_every_role(client, role, status):
    if role != "anonymous":
        client.force_login(UserFactory(roles=[role] if role else []))
    assert client.get("/leads/export.csv").status_code == status


def test_nav_links_to_imports_for_marketing_only(client, marketer, sdr):
    client.force_login(marketer)
    assert '<a href="/imports/">Import</a>' in client.get("/").content.decode()
    client.force_login(sdr)
    assert '<a href="/imports/">Import</a>' not in client.get("/").content.decode()
