import pytest

from leads.models import Company, Lead

pytestmark = pytest.mark.django_db


def post(api, path, body, **headers):
    return api.post(path, body, format="json", **headers)


def test_upsert_creates_then_updates_by_email_case_insensitively(api):
    first = post(api, "/api/v1/leads/", {"email": "Ana@Acme.io", "first_name": "Ana"})
    assert first.status_code == 201
    second = post(api, "/api/v1/leads/", {"email": "ANA@acme.IO", "last_name": "Lopez"})
    assert second.status_code == 200
    assert second.data["id"] == first.data["id"]
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.last_name) == ("ana@acme.io", "Ana", "Lopez")


def test_update_keeps_fields_the_item_does_not_carry_and_merges_attributes(api):
    post(
        api,
        "/api/v1/leads/",
        {"email": "a@acme.io", "job_title": "CTO", "attributes": {"plan": "pro"}},
    )
    post(
        api,
        "/api/v1/leads/",
        {"email": "a@acme.io", "phone": "+1 555", "attributes": {"seats": 40}},
    )
    lead = Lead.objects.get()
    assert lead.job_title == "CTO"
    assert lead.seniority == "c_level"
    assert lead.phone == "+1 555"
    assert lead.attributes == {"plan": "pro", "seats": 40}


def test_company_is_upserted_by_domain_and_linked(api):
    post(
        api,
        "/api/v1/leads/",
        {
            "email": "a@acme.io",
            "company": {"name": "Acme", "domain": "WWW.Acme.io", "employee_count": 120},
        },
    )
    post(
        api,
        "/api/v1/leads/",
        {"email": "b@acme.io", "company": {"domain": "acme.io", "industry": "software"}},
    )
    company = Company.objects.get()
    assert (company.domain, company.name, company.employee_count, company.industry) == (
        "acme.io",
        "Acme",
        120,
        "software",
    )
    assert set(Lead.objects.values_list("company_id", flat=True)) == {company.id}


def test_detail_carries_scores_stage_owner_and_explanation(api):
    created = post(api, "/api/v1/leads/", {"email": "a@acme.io"}).data
    detail = api.get(f"/api/v1/leads/{created['id']}/")
    assert detail.status_code == 200
    for field in (
        "fit_score",
        "fit_grade",
        "engagement_score",
        "score",
        "stage",
        "owner",
        "score_explanation",
    ):
        assert field in detail.data
    assert detail.data["stage"] == "lead"


def test_unknown_lead_is_a_json_404(api):
    response = api.get("/api/v1/leads/999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_batch_stores_good_items_and_reports_bad_ones(api):
    response = post(
        api,
        "/api/v1/leads/batch/",
        {
            "leads": [
                {"email": "a@x.io"},
                {"email": "not-an-email"},
                {"email": "b@x.io", "first_name": 7},
                {"first_name": "no email"},
            ]
        },
    )
    assert response.status_code == 200
    results = response.data["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["created", "error", "created", "error"]
    assert "email" in results[1]["errors"]
    assert "email" in results[3]["errors"]
    assert set(Lead.objects.values_list("email", flat=True)) == {"a@x.io", "b@x.io"}
    assert response.data["summary"] == {"created": 2, "error": 2}


def test_batch_naming_one_email_twice_makes_one_lead_with_the_later_values(api):
    response = post(
        api,
        "/api/v1/leads/batch/",
        {
            "leads": [
                {"email": "a@x.io", "first_name": "Old"},
                {"email": "A@X.io", "first_name": "New"},
            ]
        },
    )
    statuses = [r["status"] for r in response.data["results"]]
    assert statuses == ["created", "updated"]
    assert Lead.objects.get().first_name == "New"


def test_batch_reports_updates_for_existing_leads(api):
    post(api, "/api/v1/leads/", {"email": "a@x.io"})
    response = post(api, "/api/v1/leads/batch/", {"leads": [{"email": "a@x.io"}, {"email": "c@x.io"}]})
    assert [r["status"] for r in response.data["results"]] == ["updated", "created"]


def test_batch_over_1000_is_refused_whole(api):
    response = post(api, "/api/v1/leads/batch/", {"leads": [{"email": f"l{i}@x.io"} for i in range(1001)]})
    assert response.status_code == 400
    assert "leads" in response.json()["errors"]
    assert Lead.objects.count() == 0


def test_batch_of_1000_uses_a_constant_number_of_queries(api, django_assert_max_num_queries):
    leads = [{"email": f"l{i}@c{i % 50}.io", "company": {"name": f"C{i % 50}"}} for i in range(1000)]
    with django_assert_max_num_queries(20):
        response = post(api, "/api/v1/leads/batch/", {"leads": leads})
    assert response.data["summary"] == {"created": 1000}
    assert Company.objects.count() == 50


def test_list_filters_by_stage_source_score_and_search(api):
    post(
        api,
        "/api/v1/leads/batch/",
        {
            "leads": [
                {"email": "a@x.io", "source": "paid_search", "first_name": "Zed"},
                {"email": "b@y.io", "source": "event"},
            ]
        },
    )
    Lead.objects.filter(email="b@y.io").update(score=80, stage="mql")
    assert [r["email"] for r in api.get("/api/v1/leads/?source=paid_search").data["results"]] == ["a@x.io"]
    assert [r["email"] for r in api.get("/api/v1/leads/?stage=mql").data["results"]] == ["b@y.io"]
    assert [r["email"] for r in api.get("/api/v1/leads/?min_score=50").data["results"]] == ["b@y.io"]
    assert [r["email"] for r in api.get("/api/v1/leads/?q=zed").data["results"]] == ["a@x.io"]
    bad = api.get("/api/v1/leads/?stage=nonsense")
    assert bad.status_code == 400


def test_list_paginates_with_cursors_without_repeats(api):
    post(api, "/api/v1/leads/batch/", {"leads": [{"email": f"l{i}@x.io"} for i in range(25)]})
    seen, url = [], "/api/v1/leads/?limit=10&ordering=-score"
    while url:
        page = api.get(url).data
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert len(seen) == 25 == len(set(seen))


def test_list_has_no_n_plus_one(api, django_assert_max_num_queries):
    post(
        api,
        "/api/v1/leads/batch/",
        {"leads": [{"email": f"l{i}@c{i}.io", "company": {"name": "C"}} for i in range(60)]},
    )
    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/leads/?limit=50")
    assert len(response.data["results"]) == 50
