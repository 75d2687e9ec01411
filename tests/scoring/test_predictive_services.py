"""Predictive scoring with the database: labels, set-based features, versions, leads, API, pages."""

import json
import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from handoff.models import StageChange
from leads.models import Company, Interaction, Lead, Outcome
from scoring import predictive, predictive_services, tasks
from scoring.models import LeadPrediction, PredictiveModel

pytestmark = pytest.mark.django_db

INDUSTRIES = ["fintech", "software", "retail", "healthcare", "logistics", "education"]


def labelled_leads(n: int, *, seed: int = 5, unlabelled: int = 0) -> list[int]:
    """n leads with outcomes (fintech + 2 or more webinars convert), plus some without."""
    rnd = random.Random(seed)
    now = timezone.now()
    companies = Company.objects.bulk_create(
        [
            Company(
                name=f"Co {i}",
                domain=f"s{seed}-c{i}.example",
                industry=rnd.choice(INDUSTRIES),
                employee_count=rnd.choice([None, 40, 400, 4000]),
                country="US",
            )
            for i in range(n + unlabelled)
        ]
    )
    leads = Lead.objects.bulk_create(
        [
            Lead(
                email=f"p{i}@{'gmail.com' if rnd.random() < 0.1 else c.domain}".replace(
                    "@gmail", f"{seed}@gmail"
                ),
                company=c,
                seniority=rnd.choice(["vp", "manager", "individual"]),
                source=rnd.choice(["webinar", "organic_search"]),
                attributes={"plan": rnd.choice(["free", "pro"]), "crm_id": f"x{i}"},
            )
            for i, c in enumerate(companies)
        ]
    )
    interactions, outcomes = [], []
    for i, lead in enumerate(leads):
        webinars = rnd.choice([0, 0, 0, 1, 2, 3])
        decided = now - timedelta(days=rnd.randint(2, 30))
        for _ in range(webinars):
            interactions.append(
                Interaction(
                    lead=lead,
                    type="webinar_attendance",
                    occurred_at=decided - timedelta(days=rnd.randint(1, 20)),
                )
            )
        for _ in range(rnd.randint(0, 4)):
            interactions.append(
                Interaction(
                    lead=lead,
                    type="page_view",
                    occurred_at=decided - timedelta(days=rnd.randint(0, 40)),
                    properties={"url": "/pricing" if rnd.random() < 0.2 else "/blog", "duration_seconds": 30},
                )
            )
        if i >= n:
            continue
        converts = lead.company.industry == "fintech" or webinars >= 2
        converts = converts if rnd.random() > 0.05 else not converts
        outcomes.append(Outcome(lead=lead, result="won" if converts else "lost", occurred_at=decided))
    Interaction.objects.bulk_create(interactions)
    Outcome.objects.bulk_create(outcomes)
    return [lead.pk for lead in leads]


def train_now(**kwargs) -> PredictiveModel:
    row = predictive_services.predictive_training_request(**kwargs)
    tasks.train_predictive_model_task(row.pk)
    row.refresh_from_db()
    return row


# --- labels and features -----------------------------------------------------------------------


def test_labels_take_the_latest_outcome_and_the_stage():
    now = timezone.now()
    rejected_then_won, sql_then_lost, customer, open_lead = Lead.objects.bulk_create(
        [
            Lead(email=f"l{i}@x{i}.example", stage=s)
            for i, s in enumerate(["recycled", "sql", "customer", "mql"])
        ]
    )
    StageChange.objects.create(
        lead=rejected_then_won,
        action="reject",
        from_stage="mql",
        to_stage="recycled",
        created_at=now - timedelta(days=9),
    )
    Outcome.objects.create(lead=rejected_then_won, result="won", occurred_at=now - timedelta(days=2))
    StageChange.objects.create(
        lead=sql_then_lost,
        action="qualify",
        from_stage="sal",
        to_stage="sql",
        created_at=now - timedelta(days=5),
    )
    Outcome.objects.create(lead=sql_then_lost, result="not_converted", occurred_at=now - timedelta(days=1))
    labels = predictive_services.outcome_labels_at()
    assert labels[rejected_then_won.pk][0] is True
    assert labels[sql_then_lost.pk][0] is False
    assert labels[customer.pk][0] is True
    assert open_lead.pk not in labels
    assert predictive_services.label_counts() == {"positives": 2, "negatives": 1, "labelled": 3}


def test_sql_aggregates_match_the_pure_ones_and_stop_at_the_cutoff():
    lead = Lead.objects.create(email="a@b.example", attributes={"plan": "pro"})
    now = timezone.now()
    cutoff = now - timedelta(days=1)
    rows = [
        ("page_view", now - timedelta(days=4), {"url": "https://x.io/Pricing", "duration_seconds": 100}),
        ("page_view", now - timedelta(days=4, hours=1), {"duration_seconds": 20.5}),
        ("page_view", now - timedelta(days=6), {"duration_seconds": True}),
        ("pricing_page_view", now - timedelta(days=2), {}),
        ("webinar_attendance", now - timedelta(days=3), {}),
        ("form_submission", now - timedelta(days=3), {}),
        ("trial_signup", now, {}),  # after the cutoff (e.g. after the outcome): left out
    ]
    Interaction.objects.bulk_create(
        [Interaction(lead=lead, type=t, occurred_at=at, properties=p) for t, at, p in rows]
    )
    record = predictive_services.load_records([lead.pk], [cutoff])[lead.pk]
    expected = predictive.aggregate_events(rows, cutoff)
    assert record["activity"]["counts"] == expected["counts"]
    assert "trial_signup" not in record["activity"]["counts"]
    for key in ("visit_days", "distinct_conversion_types", "pricing_page_views", "page_views"):
        assert record["activity"][key] == expected[key], key
    for key in ("days_since_last_activity", "time_on_site_seconds", "avg_visit_seconds"):
        assert record["activity"][key] == pytest.approx(expected[key]), key
    assert record["attributes"] == {"plan": "pro"}


# --- training, versions, leads --------------------------------------------------------------------


def test_training_through_the_task_activates_and_scores_every_lead():
    ids = labelled_leads(320, unlabelled=30)
    row = train_now()
    assert row.status == "active", row.message
    assert row.metrics["auc"] >= 0.8
    assert row.metrics["positives"] + row.metrics["negatives"] == 320
    assert row.trained_on == 240 and row.metrics["test_leads"] == 80
    assert row.feature_names and row.artifact
    assert "first predictive model" in row.message
    assert row.leads_scored == len(ids) and row.scored_at is not None
    assert LeadPrediction.objects.filter(model=row).count() == len(ids)
    assert not Lead.objects.filter(conversion_probability__isnull=True).exists()
    # usable as a filter and a sort: the best leads are the ones carrying the signal
    best = Lead.objects.select_related("company", "prediction").order_by("-conversion_probability")[:10]
    for lead in best:
        assert (
            lead.company.industry == "fintech"
            or lead.interactions.filter(type="webinar_attendance").count() >= 2
        )
    assert Lead.objects.filter(conversion_probability__gte=0.5).count() > 0
    top = best[0].prediction
    assert top.probability == pytest.approx(best[0].conversion_probability)
    assert {f["feature"] for f in top.factors["plus"]} & {"industry", "count:webinar_attendance"}
    assert all(f["label"] and f["weight"] > 0 for f in top.factors["plus"])


def test_too_few_outcomes_fail_the_run_saying_how_many_more():
    labelled_leads(40)
    row = train_now()
    assert row.status == "failed"
    assert "Not enough closed-loop outcomes to train" in row.message
    assert "more" in row.message
    needed = row.metrics["needed"]
    assert needed["either"] + needed["positives"] + needed["negatives"] >= 160
    assert not row.artifact
    assert not LeadPrediction.objects.exists()
    assert predictive_services.predictive_overview()["shortfall"].startswith("Not enough")


def test_a_worse_model_is_rejected_and_force_activates_it_saying_so():
    labelled_leads(300)
    first = train_now()
    assert first.status == "active"
    # Make the active model look better than anything the same data can give.
    PredictiveModel.objects.filter(pk=first.pk).update(metrics={**first.metrics, "auc": 0.999})

    worse = train_now()
    assert worse.status == "rejected"
    assert f"kept v{first.version}" in worse.message and "0.999" in worse.message
    assert PredictiveModel.objects.get(status="active").pk == first.pk
    assert set(LeadPrediction.objects.values_list("model_id", flat=True)) == {first.pk}

    forced = train_now(force=True)
    assert forced.status == "active"
    assert forced.message.startswith("Forced") and f"v{first.version}" in forced.message
    assert PredictiveModel.objects.get(pk=first.pk).status == "retired"
    assert set(LeadPrediction.objects.values_list("model_id", flat=True)) == {forced.pk}


def test_a_chunk_from_a_replaced_model_does_not_overwrite_the_new_ones():
    labelled_leads(220)
    first = train_now()
    second = train_now(force=True)
    assert second.status == "active"
    lead = Lead.objects.order_by("id").first()
    # as if a chunk of the old model's full rescore were written after the activation
    predictive_services._write(
        first, {lead.pk: (0.123, {"plus": [], "minus": []})}, timezone.now(), wait=True
    )
    lead.refresh_from_db()
    assert lead.conversion_probability != 0.123
    assert lead.prediction.model_id == second.pk


def test_training_twice_is_harmless_and_requests_coalesce():
    labelled_leads(220)
    first = predictive_services.predictive_training_request()
    again = predictive_services.predictive_training_request(force=True)
    assert again.pk == first.pk and again.force
    tasks.train_predictive_model_task(first.pk)
    tasks.train_predictive_model_task(first.pk)  # a redelivered task
    assert PredictiveModel.objects.count() == 1
    assert PredictiveModel.objects.get().status == "active"


def test_weekly_run_trains_a_new_version():
    labelled_leads(220)
    result = tasks.train_predictive_model_task()
    row = PredictiveModel.objects.get(pk=result["model"])
    assert row.trigger == "schedule" and row.status == "active"


def test_new_leads_are_scored_by_the_hook():
    labelled_leads(220)
    train_now()
    lead = Lead.objects.create(
        email="new@fin.example", company=Company.objects.create(name="F", industry="fintech")
    )
    assert lead.conversion_probability is None
    assert predictive_services.predict_for_leads([lead.pk]) == 1
    lead.refresh_from_db()
    assert 0 < lead.conversion_probability < 1
    labels = [f["label"] for f in lead.prediction.factors["plus"]]
    assert "Works in fintech (industry)" in labels


def test_probability_partial_shows_the_factors():
    labelled_leads(220)
    train_now()
    lead = Lead.objects.select_related("prediction__model").order_by("-conversion_probability").first()
    html = render_to_string("scoring/_probability.html", {"lead": lead})
    assert "Chance to convert" in html and "Raises it" in html
    assert lead.prediction.factors["plus"][0]["label"] in html
    compact = render_to_string("scoring/_probability.html", {"lead": lead, "compact": True})
    assert f"{round(lead.conversion_probability * 100)}%" in compact
    empty = render_to_string("scoring/_probability.html", {"lead": Lead(email="x@y.z")})
    assert "No prediction yet" in empty


# --- API and pages ----------------------------------------------------------------------------------


def test_marketing_and_admin_may_train_through_the_api(
    marketer, admin_user, django_capture_on_commit_callbacks
):
    labelled_leads(220)
    client = Client()
    client.force_login(marketer)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/api/v1/scoring/predictive/train/", {"force": False}, content_type="application/json"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["poll"] == f"/api/v1/scoring/predictive/models/{body['id']}/"
    assert len(callbacks) == 1  # the task is sent after commit

    tasks.train_predictive_model_task(body["id"])
    polled = client.get(body["poll"]).json()
    assert polled["status"] == "active" and polled["metrics"]["auc"] > 0.7 and polled["message"]
    assert "artifact" not in polled
    listed = client.get("/api/v1/scoring/predictive/models/").json()
    assert [m["id"] for m in listed] == [body["id"]]

    admin = Client()
    admin.force_login(admin_user)
    forced = admin.post("/api/v1/scoring/predictive/train/", {"force": True}, content_type="application/json")
    assert forced.status_code == 202 and forced.json()["model"]["force"] is True


def test_sales_and_api_keys_may_not_train(sdr, api, anon):
    client = Client()
    client.force_login(sdr)
    assert (
        client.post("/api/v1/scoring/predictive/train/", {}, content_type="application/json").status_code
        == 403
    )
    assert client.get("/api/v1/scoring/predictive/models/").status_code == 403
    assert api.post("/api/v1/scoring/predictive/train/", {}, format="json").status_code == 403
    assert api.get("/api/v1/scoring/predictive/models/").status_code == 403
    assert anon.post("/api/v1/scoring/predictive/train/", {}, format="json").status_code in (401, 403)
    assert not PredictiveModel.objects.exists()


def test_integrations_read_a_leads_prediction(api):
    ids = labelled_leads(220)
    assert api.get(f"/api/v1/leads/{ids[0]}/prediction/").status_code == 404
    train_now()
    body = api.get(f"/api/v1/leads/{ids[0]}/prediction/").json()
    assert 0 <= body["probability"] <= 1 and body["model_version"] == 1
    assert set(body["factors"]) == {"plus", "minus"}


def test_scoring_page_panel_trains_on_demand(client, marketer, sdr):
    labelled_leads(30)
    client.force_login(marketer)
    page = client.get("/scoring/").content.decode()
    assert "Predictive scoring" in page and "Train now" in page
    assert "No predictive model is active yet" in page and "more" in page
    response = client.post("/api/v1/scoring/predictive/train-now/", {"force": "1"})
    assert response.status_code == 302 and response["Location"] == "/scoring/"
    row = PredictiveModel.objects.get()
    assert row.force and row.requested_by == marketer
    tasks.train_predictive_model_task(row.pk)
    page = client.get("/scoring/").content.decode()
    assert "Failed" in page and "Not enough closed-loop outcomes" in page

    client.force_login(sdr)
    assert client.post("/api/v1/scoring/predictive/train-now/").status_code == 403


def test_scoring_page_panel_shows_the_active_model(client, marketer):
    labelled_leads(220)
    train_now()
    client.force_login(marketer)
    page = client.get("/scoring/").content.decode()
    assert "Held-out AUC" in page and "Calibration on the held-out leads" in page
    assert "Works in fintech (industry)" in page


# --- the evaluation command --------------------------------------------------------------------------


def test_evaluate_command_reports_both_aucs_on_a_csv_with_a_mapping(tmp_path, capsys):
    rnd = random.Random(11)
    lines = ["id,sector,staff,hits,webinars,days_idle,personal,secret_total,outcome"]
    for i in range(260):
        sector = rnd.choice(["fintech", "retail", "software"])
        webinars = rnd.choice([0, 1, 2, 3])
        personal = rnd.random() < 0.2
        converted = (sector == "fintech" or webinars >= 2) if rnd.random() > 0.1 else rnd.random() < 0.5
        lines.append(
            f"r{i},{sector},{rnd.choice([20, 300, 3000])},{rnd.randint(0, 20)},{webinars},"
            f"{rnd.randint(0, 40)},{'personal' if personal else 'corporate'},{webinars + int(converted) * 5},"
            f"{'yes' if converted else 'no'}"
        )
    (tmp_path / "leads.csv").write_text("\n".join(lines) + "\n")
    mapping = {
        "id": "id",
        "label": {"column": "outcome", "positive": ["yes"]},
        "drop": ["secret_total"],
        "lead": {"industry": "sector", "employee_count": "staff", "email_domain_type": "personal"},
        "activity": {
            "counts.page_view": "hits",
            "counts.webinar_attendance": "webinars",
            "days_since_last_activity": "days_idle",
        },
        "snapshot": {"date": "2026-06-01"},
    }
    (tmp_path / "mapping.json").write_text(json.dumps(mapping))
    out = tmp_path / "result.json"
    call_command(
        "evaluate_scoring",
        data=str(tmp_path / "leads.csv"),
        mapping=str(tmp_path / "mapping.json"),
        test_size=0.25,
        seed=3,
        json=str(out),
    )
    printed = capsys.readouterr().out
    assert "Rule score (active scoring model" in printed and "Predictive score: AUC" in printed
    result = json.loads(out.read_text())
    assert result["test_rows"] == 65 and result["train_rows"] == 195
    assert result["predictive"]["auc"] > 0.8
    assert result["rule"]["auc"] is not None
    assert f"AUC {result['rule']['auc']:.3f}" in printed
    assert not Lead.objects.exists()  # imported in memory only

    leaky = {**mapping, "attributes": {"total": "secret_total"}}
    (tmp_path / "leaky.json").write_text(json.dumps(leaky))
    with pytest.raises(Exception, match="dropped column"):
        call_command(
            "evaluate_scoring", data=str(tmp_path / "leads.csv"), mapping=str(tmp_path / "leaky.json")
        )
