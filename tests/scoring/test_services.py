import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from handoff.models import StageChange
from leads import services as lead_services
from leads.models import Interaction, Lead
from scoring import selectors, services, tasks
from scoring.models import ScoreChange, ScoringModel

pytestmark = pytest.mark.django_db


def good_fit_lead(email="cto@acme-soft.io"):
    return lead_services.lead_upsert(
        data={
            "email": email,
            "job_title": "CTO",
            "country": "US",
            "source": "organic_search",
            "company": {
                "name": "Acme Soft",
                "industry": "software",
                "employee_count": 400,
                "annual_revenue": 40_000_000,
            },
        }
    ).lead_id


def record(lead_id, *types, days_ago=0, **props):
    when = timezone.now() - timedelta(days=days_ago)
    return lead_services.interactions_record(
        items=[{"lead_id": lead_id, "type": t, "occurred_at": when, "properties": props} for t in types]
    )


def test_demo_request_from_a_good_fit_lead_makes_it_an_mql_with_history():
    lead_id = good_fit_lead()
    record(lead_id, "demo_request")
    result = tasks.rescore_leads_task(lead_ids=[lead_id])
    lead = Lead.objects.get(pk=lead_id)
    assert result == {"rescored": 1, "promoted": 1}
    assert lead.stage == "mql"
    assert lead.needs_rescore is False
    assert lead.fit_grade in {"A", "B"}
    change = StageChange.objects.get(lead=lead)
    assert (change.from_stage, change.to_stage, change.action) == ("lead", "mql", "promote")
    assert change.score == lead.score
    assert change.reason in {"threshold", "fast_lane"}
    assert change.details["model_version"] == 1


def test_the_leads_a_rescore_promotes_each_get_their_lead_mql_webhook_in_its_transaction():
    from handoff import webhooks
    from handoff.models import WebhookDelivery

    webhooks.subscription_create(url="https://crm.example/hooks", events=["lead.mql"])
    webhooks.subscription_create(url="https://other.example/hooks", events=["lead.sql"])
    ids = [good_fit_lead(f"cto{i}@acme-soft.io") for i in range(3)]
    for lead_id in ids[:2]:
        record(lead_id, "demo_request")
    assert tasks.rescore_leads_task(lead_ids=ids) == {"rescored": 3, "promoted": 2}
    deliveries = WebhookDelivery.objects.order_by("id")
    assert [(d.event, d.subscription.url) for d in deliveries] == [
        ("lead.mql", "https://crm.example/hooks")
    ] * 2
    data = {d.payload["data"]["lead_id"]: d.payload["data"] for d in deliveries}
    assert sorted(data) == ids[:2]
    for lead_id, body in data.items():
        lead = Lead.objects.get(pk=lead_id)
        assert (body["from_stage"], body["to_stage"], body["score"]) == ("lead", "mql", lead.score)
        assert body["model_version"] == 1 and body["reason"] in {"threshold", "fast_lane"}


def test_explanation_names_the_rules_and_events_behind_the_score():
    lead_id = good_fit_lead()
    created = record(lead_id, "webinar_attendance", "email_click")
    tasks.rescore_leads_task(lead_ids=[lead_id])
    explanation = selectors.lead_explanation(Lead.objects.get(pk=lead_id).score_explanation)
    rules = {r["key"]: r for r in explanation["engagement"]["rules"]}
    assert rules["email_click"]["label"] == "Clicked a link in an email"  # the model's words
    from handoff.selectors import top_reasons

    assert any(r.startswith("Attended a webinar (+") for r in top_reasons(Lead.objects.get(pk=lead_id)))
    event_ids = {e for r in rules.values() for e in r["event_ids"]}
    assert {o.interaction_id for o in created} <= event_ids
    assert round(sum(r["points"] for r in rules.values())) == explanation["engagement"]["score"]
    assert any(c["matched"] for c in explanation["fit"]["criteria"])


def test_rescoring_twice_gives_the_same_score_and_no_new_ledger_rows():
    lead_id = good_fit_lead()
    record(lead_id, "page_view", "content_download", asset_stage="decision")
    tasks.rescore_leads_task(lead_ids=[lead_id])
    first = Lead.objects.get(pk=lead_id)
    rows = ScoreChange.objects.filter(lead_id=lead_id).count()
    Lead.objects.filter(pk=lead_id).update(needs_rescore=True)
    tasks.rescore_leads_task(lead_ids=[lead_id])
    again = Lead.objects.get(pk=lead_id)
    assert (again.score, again.fit_score, again.engagement_score) == (
        first.score,
        first.fit_score,
        first.engagement_score,
    )
    assert ScoreChange.objects.filter(lead_id=lead_id).count() == rows


def test_a_task_for_an_unmarked_lead_does_nothing():
    lead_id = good_fit_lead()
    tasks.rescore_leads_task(lead_ids=[lead_id])
    assert tasks.rescore_leads_task(lead_ids=[lead_id]) == {"rescored": 0, "promoted": 0}


def test_the_sweeper_scores_leads_whose_task_was_lost():
    # on_commit callbacks never run inside this test's transaction: exactly a lost task.
    lead_ids = [good_fit_lead(f"l{i}@acme-soft.io") for i in range(5)]
    for lead_id in lead_ids:
        record(lead_id, "pricing_page_view")
    assert Lead.objects.filter(needs_rescore=True).count() == 5
    result = tasks.sweep_marked_leads_task()
    assert result["rescored"] == 5
    assert not Lead.objects.filter(needs_rescore=True).exists()
    assert ScoreChange.objects.filter(cause="sweep", kind="total").count() == 5


def test_ledger_records_each_rule_change_with_its_event():
    lead_id = good_fit_lead()
    tasks.rescore_leads_task(lead_ids=[lead_id])
    (outcome,) = record(lead_id, "webinar_attendance")
    tasks.rescore_leads_task(lead_ids=[lead_id])
    change = ScoreChange.objects.filter(lead_id=lead_id, kind="engagement").latest("id")
    assert change.interaction_id == outcome.interaction_id
    assert change.points > 0
    assert change.model.version == 1


def test_knocked_out_lead_is_never_promoted_even_with_a_demo_request():
    lead_id = lead_services.lead_upsert(data={"email": "someone@gmail.com", "job_title": "CEO"}).lead_id
    record(lead_id, "demo_request", "trial_signup", "webinar_attendance")
    tasks.rescore_leads_task(lead_ids=[lead_id])
    lead = Lead.objects.get(pk=lead_id)
    assert lead.fit_grade == "F"
    assert lead.stage == "lead"


def test_recycled_lead_returns_to_mql_only_after_its_nurture_date():
    lead_id = good_fit_lead()
    Lead.objects.filter(pk=lead_id).update(
        stage="recycled", nurture_until=timezone.now().date() + timedelta(days=10)
    )
    record(lead_id, "demo_request")
    tasks.rescore_leads_task(lead_ids=[lead_id])
    assert Lead.objects.get(pk=lead_id).stage == "recycled"
    Lead.objects.filter(pk=lead_id).update(
        nurture_until=timezone.now().date() - timedelta(days=1), needs_rescore=True
    )
    tasks.rescore_leads_task(lead_ids=[lead_id])
    assert Lead.objects.get(pk=lead_id).stage == "mql"


def test_decay_lowers_engagement_but_keeps_the_mql_and_records_the_drop(time_machine):
    time_machine.move_to(timezone.now() - timedelta(days=200), tick=False)
    lead_id = good_fit_lead()
    record(
        lead_id,
        "trial_signup",
        "webinar_attendance",
        "webinar_registration",
        "content_download",
        "form_submission",
        asset_stage="decision",
    )
    tasks.rescore_leads_task(lead_ids=[lead_id])
    before = Lead.objects.get(pk=lead_id)
    assert before.stage == "mql"
    time_machine.move_to(timezone.now() + timedelta(days=200), tick=False)
    tasks.apply_decay_task()
    after = Lead.objects.get(pk=lead_id)
    assert after.engagement_score < before.engagement_score
    assert after.stage == "mql"
    assert ScoreChange.objects.filter(lead_id=lead_id, cause="decay", kind="below_mql").exists()


def test_activation_rescores_every_lead_in_chunks_and_reports_progress(monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 7)
    ids = [good_fit_lead(f"l{i}@acme-soft.io") for i in range(20)]
    for lead_id in ids[:3]:
        record(lead_id, "webinar_attendance")
    tasks.sweep_marked_leads_task()
    active = ScoringModel.objects.get(status="active")
    definition = {**active.definition, "mql_engagement_threshold": 5}
    draft = services.scoring_model_create_draft(name="Lower bar", definition=definition)
    job = services.scoring_model_activate(model=draft)
    assert job.total == 20
    chunk_ids = services.rescore_job_plan(job_id=job.pk)
    assert len(chunk_ids) == 3
    for chunk_id in chunk_ids:
        services.rescore_chunk_run(chunk_id=chunk_id)
        services.rescore_chunk_run(chunk_id=chunk_id)  # a redelivered task counts once
    job.refresh_from_db()
    assert (job.status, job.done, job.percent) == ("done", 20, 100)
    assert job.promoted == 3
    assert ScoringModel.objects.get(pk=active.pk).status == "retired"
    assert set(Lead.objects.values_list("score_explanation__model_version", flat=True)) == {draft.version}


def test_only_a_draft_can_be_activated_and_edited():
    active = ScoringModel.objects.get(status="active")
    with pytest.raises(ValueError):
        services.scoring_model_activate(model=active)
    with pytest.raises(ValueError):
        services.scoring_model_update_draft(model=active, definition=active.definition)


def test_an_invalid_definition_is_refused_with_its_path():
    active = ScoringModel.objects.get(status="active")
    bad = {**active.definition, "rules": [{**active.definition["rules"][0], "per": "fortnight"}]}
    with pytest.raises(ValueError, match=r"rules\[0\]\.per"):
        services.scoring_model_create_draft(name="Broken", definition=bad)


def _activate(definition, name="Next"):
    draft = services.scoring_model_create_draft(name=name, definition=definition)
    job = services.scoring_model_activate(model=draft)
    for chunk_id in services.rescore_job_plan(job_id=job.pk):
        services.rescore_chunk_run(chunk_id=chunk_id)
    return draft


def test_a_stricter_model_keeps_the_mql_stage_and_records_the_drop():
    lead_id = good_fit_lead()
    record(lead_id, "webinar_attendance", "webinar_registration", "content_download", asset_stage="decision")
    record(lead_id, "trial_signup")
    tasks.sweep_marked_leads_task()
    assert Lead.objects.get(pk=lead_id).stage == "mql"
    active = ScoringModel.objects.get(status="active")
    draft = _activate({**active.definition, "mql_engagement_threshold": 99})
    lead = Lead.objects.get(pk=lead_id)
    assert lead.stage == "mql"
    assert lead.score_explanation["mql"] is False
    assert lead.score_explanation["model_version"] == draft.version
    drop = ScoreChange.objects.get(lead_id=lead_id, kind="below_mql")
    assert (drop.cause, drop.model_id) == ("model", draft.pk)


def test_the_bulk_rescore_scores_exactly_like_the_full_facts(time_machine):
    """The bulk path reads only what the model can see (engine.interaction_reads); the preview
    reads every interaction with its properties. At the same instant both must agree."""
    time_machine.move_to(timezone.now(), tick=False)
    ids = [good_fit_lead(f"p{i}@acme-soft.io") for i in range(4)]
    record(ids[0], "page_view", url="/pricing")
    record(ids[0], "page_view", url="/careers", days_ago=3)
    record(ids[1], "content_download", asset_stage="decision")
    record(ids[1], "fax_received", url="/pricing")  # a type no rule names
    record(ids[2], "email_click", "email_open", days_ago=20)
    tasks.sweep_marked_leads_task()
    active = ScoringModel.objects.get(status="active")
    definition = json.loads(json.dumps(active.definition))
    for rule in definition["rules"]:
        rule["points"] = rule["points"] * 2  # every engaged lead's score moves
    draft = _activate(definition)
    for lead in Lead.objects.filter(pk__in=ids):
        assert lead.score_explanation["format"] == 2  # stored compactly
        stored = selectors.lead_explanation(lead.score_explanation)
        assert stored.pop("model_version") == draft.version
        assert stored == services.preview_lead(model=draft, lead_id=lead.pk)
        assert (lead.score, lead.engagement_score) == (stored["score"], stored["engagement"]["score"])
    assert Lead.objects.get(pk=ids[0]).engagement_score > 0
    totals = ScoreChange.objects.filter(cause="model", kind="total", model=draft)
    assert set(totals.values_list("lead_id", flat=True)) >= {ids[0], ids[1]}


def test_a_full_rescore_writes_the_first_total_of_a_never_scored_lead_even_at_zero():
    """The bulk path reads only a summary of the stored explanation; "never scored" must still
    be told from "scored before", or a new lead's first ledger row would be lost at score 0."""
    lead = Lead.objects.create(email="nobody@gmail.com", needs_rescore=False)
    active = ScoringModel.objects.get(status="active")
    assert services.preview_lead(model=active, lead_id=lead.pk)["score"] == 0
    draft = _activate({**active.definition, "mql_engagement_threshold": 61})
    first = ScoreChange.objects.filter(lead_id=lead.pk, kind="total", model=draft)
    assert [(c.points, c.value_after) for c in first] == [(0, 0)]
    _activate({**active.definition, "mql_engagement_threshold": 62}, name="Again")
    assert ScoreChange.objects.filter(lead_id=lead.pk, kind="total").count() == 1  # nothing changed


def test_the_lean_interaction_loader_keeps_every_timestamp_exact():
    from django.db import connection

    from scoring import engine
    from scoring.facts import load_interactions

    lead_id = good_fit_lead()
    moments = [
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(2026, 12, 1, 9, 30, 0, 123_457, tzinfo=UTC),
        datetime(2031, 2, 28, 23, 59, 59, 1, tzinfo=UTC),
    ]
    for i, when in enumerate(moments):
        Interaction.objects.create(lead_id=lead_id, type="page_view", occurred_at=when, external_id=f"t{i}")
    reads = engine.interaction_reads(services.active_model().model)
    with connection.cursor() as cursor:
        full = load_interactions(cursor, [lead_id])[lead_id]
        lean = load_interactions(cursor, [lead_id], reads=reads)[lead_id]
        cursor.execute("SET LOCAL TIME ZONE 'America/St_Johns'")  # -03:30, or -02:30 in summer
        elsewhere = load_interactions(cursor, [lead_id], reads=reads)[lead_id]
    assert [(f.id, f.occurred_at) for f in lean] == [(f.id, f.occurred_at) for f in full]
    assert [(f.id, f.occurred_at) for f in elsewhere] == [(f.id, f.occurred_at) for f in lean]
    assert sorted(f.occurred_at for f in lean) == sorted(moments)
    assert all(f.occurred_at.tzinfo is UTC for f in lean + elsewhere)


def test_a_finished_rescore_job_queues_a_vacuum_of_leads(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.vacuum_leads_task, "delay", lambda: queued.append("vacuum"))
    good_fit_lead()
    active = ScoringModel.objects.get(status="active")
    draft = services.scoring_model_create_draft(name="v", definition=active.definition)
    job = services.scoring_model_activate(model=draft)
    chunk_ids = services.rescore_job_plan(job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        for chunk_id in chunk_ids:
            services.rescore_chunk_run(chunk_id=chunk_id)
        services.rescore_chunk_run(chunk_id=chunk_ids[0])  # a redelivered chunk: no second vacuum
    assert queued == ["vacuum"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_vacuum_leads_refreshes_the_planner_statistics():
    from django.db import connection

    for i in range(12):
        Lead.objects.create(email=f"v{i}@acme-soft.io")
    services.vacuum_leads()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'leads_lead'")
        assert cursor.fetchone()[0] == Lead.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.vacuum_leads()


def test_a_rule_that_stops_counting_is_named_in_the_ledger_in_its_models_words(time_machine):
    """The stored explanation has no labels: a rule that no longer gives points (its events
    expired) must still reach the ledger with the model's label, not its key."""
    time_machine.move_to(timezone.now(), tick=False)
    lead_id = good_fit_lead()
    record(lead_id, "ad_click")  # the default model lets an ad click count for 30 days
    tasks.rescore_leads_task(lead_ids=[lead_id])
    time_machine.move_to(timezone.now() + timedelta(days=31), tick=False)
    Lead.objects.filter(pk=lead_id).update(needs_rescore=True)
    tasks.rescore_leads_task(lead_ids=[lead_id])
    gone = ScoreChange.objects.filter(lead_id=lead_id, kind="engagement", rule_key="ad_click").order_by("id")
    assert [(c.label, c.points > 0) for c in gone] == [("Clicked an ad", True), ("Clicked an ad", False)]
    assert gone.last().value_after == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keeps the seeded model
def test_interactions_committed_while_their_lead_is_being_scored_leave_it_marked(monkeypatch):
    """A scorer that read a lead's interactions before new ones committed must not clear the
    mark those need: the lead stays marked (and its task or the sweeper scores it again)."""
    import threading

    from django.db import connection

    lead_id = good_fit_lead()  # marked, as every new lead is
    read, release = threading.Event(), threading.Event()

    reading = services.load_interactions

    def pause_after_reading_interactions(*args, **kwargs):
        result = reading(*args, **kwargs)
        read.set()
        release.wait(10)
        return result

    monkeypatch.setattr(services, "load_interactions", pause_after_reading_interactions)

    def score():
        try:
            services.leads_rescore(lead_ids=[lead_id])
        finally:
            connection.close()

    def ingest():
        try:
            record(lead_id, "demo_request")
        finally:
            connection.close()

    scorer = threading.Thread(target=score)
    scorer.start()
    assert read.wait(10)
    writer = threading.Thread(target=ingest)
    writer.start()
    writer.join(1.0)  # it waits for the scorer's row lock
    release.set()
    scorer.join(10)
    writer.join(10)
    lead = Lead.objects.get(pk=lead_id)
    assert lead.interactions.filter(type="demo_request").exists()
    assert lead.needs_rescore is True
    assert lead.stage == "lead"  # scored without the demo request, and marked to be scored again


def test_a_retired_definition_todays_validation_refuses_still_labels_its_explanations():
    from django.contrib import admin

    from scoring import selectors
    from scoring.admin import ScoringModelAdmin

    old = ScoringModel.objects.create(
        name="2019 model",
        version=99,
        status="retired",
        definition={
            "icp": {"criteria": [{"key": "size", "label": "Company size", "field": "headcount"}]},
            "rules": [{"key": "fax", "label": "Sent a fax", "types": ["fax_received"]}, "junk"],
        },
    )
    labels = selectors.explanation_labels_for(99)
    assert (dict(labels.criteria), dict(labels.rules)) == ({"size": "Company size"}, {"fax": "Sent a fax"})
    stored = {
        "format": 2,
        "model_version": 99,
        "engagement": {"rules": [["fax", 1, 2.0, 2.0, 2.0, False, [7]]]},
    }
    assert selectors.lead_explanation(stored)["engagement"]["rules"][0]["label"] == "Sent a fax"
    # Its words are history: the admin shows the definition of a non-draft read-only.
    readonly = ScoringModelAdmin(ScoringModel, admin.site).get_readonly_fields(None, old)
    assert {"definition", "name"} <= set(readonly)


def test_text_with_backslashes_tabs_and_newlines_is_stored_exactly_in_the_explanation():
    """Results reach PostgreSQL through COPY's text format, where a backslash is an escape."""
    title = 'Head of R\\D\t"Growth"\nVP \\N \\\\ é ✓'
    lead_id = lead_services.lead_upsert(
        data={"email": "odd@acme-soft.io", "job_title": title, "attributes": {"note": "a\\tb\r\n"}}
    ).lead_id
    tasks.rescore_leads_task(lead_ids=[lead_id])
    lead = Lead.objects.get(pk=lead_id)
    criteria = selectors.lead_explanation(lead.score_explanation)["fit"]["criteria"]
    assert title in [c["value"] for c in criteria]
    assert lead.score_explanation == json.loads(json.dumps(lead.score_explanation))
    assert lead.needs_rescore is False


def test_chunks_scored_in_one_transaction_do_not_rewrite_each_other(monkeypatch):
    """Each chunk's results are removed from the results table once applied: a later chunk in
    the same transaction must not write an earlier chunk's leads again (with its own time)."""
    first, second = good_fit_lead("a@acme-soft.io"), good_fit_lead("b@acme-soft.io")
    monkeypatch.setattr(services, "CHUNK", 1)
    with transaction.atomic():
        assert services.leads_rescore(lead_ids=[first, second]) == {"rescored": 2, "promoted": 0}
    a, b = Lead.objects.get(pk=first), Lead.objects.get(pk=second)
    assert a.scored_at < b.scored_at
    assert a.scored_at.isoformat() == a.score_explanation["computed_at"]
    assert b.scored_at.isoformat() == b.score_explanation["computed_at"]


def test_ledger_rows_keep_labels_with_tabs_line_breaks_and_backslashes_exactly():
    """Ledger rows reach PostgreSQL through COPY's text format: every special character of a
    marketer's label must come back as typed, and a missing event as NULL."""
    active = ScoringModel.objects.get(status="active")
    definition = json.loads(json.dumps(active.definition))
    label = 'Webinar\t"live"\nattended \\N \\\\ ✓\r'
    rule = next(r for r in definition["rules"] if "webinar_attendance" in r["types"])
    rule["label"] = label
    _activate(definition)
    lead_id = good_fit_lead()
    tasks.rescore_leads_task(lead_ids=[lead_id])
    (outcome,) = record(lead_id, "webinar_attendance")
    tasks.rescore_leads_task(lead_ids=[lead_id])
    change = ScoreChange.objects.get(lead_id=lead_id, kind="engagement", rule_key=rule["key"])
    assert change.label == label
    assert change.interaction_id == outcome.interaction_id
    total = ScoreChange.objects.filter(lead_id=lead_id, kind="total").latest("id")
    assert total.interaction_id is None
    assert total.value_after == Lead.objects.get(pk=lead_id).score
