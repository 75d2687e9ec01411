from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leads import services
from leads.models import Interaction, Lead

NOW = "2026-11-30T10:00:00Z"


def _in_threads(n, fn):
    def run(i):
        try:
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_upserts_make_one_lead(api_key):
    def upsert(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        return client.post(
            "/api/v1/leads/", {"email": "Race@Acme.io", "first_name": f"n{i}"}, format="json"
        ).status_code

    codes = _in_threads(50, upsert)
    assert Lead.objects.filter(email="race@acme.io").count() == 1
    assert codes.count(201) == 1
    assert codes.count(200) == 49


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_overlapping_batches_do_not_deadlock_or_duplicate():
    emails = [f"l{i}@x.io" for i in range(200)]

    def batch(i):
        ordered = emails if i % 2 else list(reversed(emails))
        return services.leads_upsert(items=[{"email": e, "first_name": str(i)} for e in ordered])

    results = _in_threads(8, batch)
    assert all(len(r) == 200 for r in results)
    assert Lead.objects.count() == 200
    assert sum(o.created for r in results for o in r) == 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_duplicate_events_are_stored_once(api_key):
    lead = services.lead_upsert(data={"email": "a@x.io"})

    def send(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
        return client.post(
            "/api/v1/interactions/",
            {
                "lead_id": lead.lead_id,
                "type": "email_click",
                "occurred_at": NOW,
                "external_id": "evt-1",
            },
            format="json",
        ).data["status"]

    statuses = _in_threads(20, send)
    assert Interaction.objects.count() == 1
    assert statuses.count("created") == 1
    assert statuses.count("duplicate") == 19


@pytest.mark.django_db
def test_upsert_marks_the_lead_for_rescoring():
    outcome = services.lead_upsert(data={"email": "a@x.io"})
    Lead.objects.filter(pk=outcome.lead_id).update(needs_rescore=False)
    services.lead_upsert(data={"email": "a@x.io", "first_name": "A"})
    assert Lead.objects.get(pk=outcome.lead_id).needs_rescore is True


@pytest.mark.django_db
def test_personal_email_gets_no_company_and_work_email_gets_its_domain():
    personal = services.lead_upsert(data={"email": "someone@gmail.com"})
    work = services.lead_upsert(data={"email": "someone@acme.io"})
    assert Lead.objects.get(pk=personal.lead_id).company is None
    assert Lead.objects.get(pk=work.lead_id).company.domain == "acme.io"


@pytest.mark.django_db
def test_seniority_and_department_come_from_the_title():
    outcome = services.lead_upsert(data={"email": "a@x.io", "job_title": "Director of IT Operations"})
    lead = Lead.objects.get(pk=outcome.lead_id)
    assert lead.seniority == "director"
    assert lead.department == "it"
