"""The set-based scorer (scoring/bulk_sql.py) against the engine, on PostgreSQL.

The proof the issue asks for: on random models, leads and interactions, a full-rescore chunk
scored in SQL leaves exactly the rows the engine path leaves (lead columns, the stored
explanation, the ledger, the stage history). Leads SQL cannot be sure of are handed to the
engine, so the comparison covers that routing too.
"""

import json
import math
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from handoff.models import StageChange
from leads.models import Company, Interaction, Lead
from scoring import bulk_sql, engine, services
from scoring.engine import Criterion, EngagementRule, KnockOut, PropertyFilter
from scoring.models import ScoreChange, ScoringModel

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

TYPES = ("page_view", "pricing_page_view", "content_download", "demo_request", "email_click", "bounce")
FILTERS = (
    PropertyFilter("url", "contains", "/pricing"),
    PropertyFilter("url", "contains", "/Careers"),
    PropertyFilter("asset_stage", "equals", "decision"),
    PropertyFilter("asset_stage", "in", ("decision", " Consideration")),
    PropertyFilter("duration_seconds", "gte", 30),
    PropertyFilter("duration_seconds", "lte", 10.5),
    PropertyFilter("url", "exists"),
    PropertyFilter("duration_seconds", "exists"),
)
rule_st = st.builds(
    EngagementRule,
    key=st.sampled_from(("r1", "r2", "r3", "r4", "r5")),
    label=st.just("Rule"),
    types=st.lists(st.sampled_from(TYPES), min_size=1, max_size=4).map(tuple),
    points=st.sampled_from((1, 5, 0.5, 0.33, 2.675, -10, -0.5, 0, 1e6)) | st.floats(-60, 60),
    filters=st.just(()) | st.lists(st.sampled_from(FILTERS), min_size=1, max_size=2).map(tuple),
    per=st.sampled_from(engine.PER_KINDS),
    min_count=st.sampled_from((1, 1, 1, 2, 3)),
    cap=st.none() | st.sampled_from((0, 5, 15)) | st.floats(0, 60),
    half_life_days=st.none() | st.sampled_from((14, 30, 0.01)) | st.floats(0.5, 90),
    expiry_days=st.none() | st.sampled_from((1, 30)) | st.floats(0.5, 120),
)
FIELDS = (
    "country",
    "industry",
    "seniority",
    "job_title",
    "source",
    "company_domain",
    "employee_count",
    "annual_revenue",
    "conversion_probability",
    "attributes.k",
)
values_st = st.lists(
    st.sampled_from(("US", "saas", "software", "vp", "head of", "vice president", "intern", "5", "Straße")),
    min_size=1,
    max_size=3,
).map(tuple)
criterion_st = st.builds(
    Criterion,
    key=st.sampled_from(("c1", "c2", "c3", "c4", "c5")),
    label=st.just("Criterion"),
    field=st.sampled_from(FIELDS),
    op=st.sampled_from(engine.CRITERION_OPS),
    values=values_st,
    min=st.none() | st.sampled_from((5, 50, 10.5, 0.5)),
    max=st.none() | st.sampled_from((5, 5000, 10**7, 0.9)),
    weight=st.sampled_from((10, 20, -20, 0, 2.5, 1 / 3)),
)
knockout_st = st.builds(
    KnockOut,
    key=st.sampled_from(("k1", "k2")),
    label=st.sampled_from(("K1", "K2")),
    field=st.sampled_from((*FIELDS, "email_domain")),
    op=st.sampled_from(engine.CRITERION_OPS),
    values=values_st | st.just(("gmail.com", "hubspot.com")),
    min=st.none() | st.just(100),
    max=st.none(),
)


def unique_by_key(items):
    return tuple({item.key: item for item in items}.values())


model_st = st.builds(
    lambda criteria, knockouts, rules, threshold, min_grade, cap, fast, probability, thresholds: (
        engine.ScoringModel(
            icp=engine.ICP(unique_by_key(criteria), unique_by_key(knockouts), thresholds),
            rules=unique_by_key(rules),
            mql_engagement_threshold=threshold,
            mql_min_grade=min_grade,
            total_cap=cap,
            fast_lane_types=fast,
            mql_min_probability=probability,
        )
    ),
    st.lists(criterion_st, max_size=5),
    st.lists(knockout_st, max_size=2),
    st.lists(rule_st, min_size=1, max_size=5, unique_by=lambda rule: rule.key),
    st.sampled_from((0, 10, 30.5, 50)),
    st.sampled_from(("A", "B", "C", "D")),
    st.none() | st.sampled_from((10.5, 100)),
    st.sampled_from((("demo_request",), ("demo_request", "pricing_page_view"), ())),
    st.none() | st.just(0.5),
    st.sampled_from(({"A": 75, "B": 50, "C": 25}, {"A": 60.5, "C": 10})),
)
def mostly(plain, odd):
    """Mostly values SQL scores itself, sometimes ones it must hand to the engine."""
    return st.one_of(*[st.sampled_from(plain)] * 9, st.sampled_from(odd))


text_st = mostly(
    ("", "  ", "US", "us ", "software", "SaaS", "vp", "VP Sales", "Head of IT", "Intern", "5", "\tvp"),
    ("Straße", "Directeur Général", "ＶＰ"),
)
json_value_st = mostly(
    ("", " ", "US", "saas", "5", 5, 5.0, 49, 5001, 0, 2.50, 0.1, None, 10**20),
    ("Straße", True, [1], {"a": 1}, 0.1000000000000000055511151231257827, 1e300),
)
lead_st = st.fixed_dictionaries(
    {
        "email": mostly(("a@acme.io", "b@gmail.com", "c@x@hubspot.com"), ("d@straße.de",)),
        "job_title": text_st,
        "seniority": text_st,
        "country": st.sampled_from(("US", "us", "", "DE")),
        "source": text_st,
        "stage": st.sampled_from(("lead", "subscriber", "recycled", "mql", "sal", "sql", "disqualified")),
        "nurture_days": st.sampled_from((None, -3, 10)),
        "conversion_probability": st.none() | st.sampled_from((0.2, 0.5, 0.75, 1.0, math.nan)),
        "attributes": st.fixed_dictionaries({}, optional={"k": json_value_st}),
        "company": st.none()
        | st.fixed_dictionaries(
            {
                "domain": st.sampled_from(("acme.io", "hubspot.com", None)),
                "industry": text_st,
                "employee_count": st.none() | st.sampled_from((0, 5, 49, 250, 5001)),
                "annual_revenue": st.none() | st.sampled_from((0, 10**6, 10**12)),
            }
        ),
        # What an earlier model left: nothing yet, or some score with or without an MQL.
        "previous": st.sampled_from(("cold", "scored", "mql")),
        "old_score": st.integers(0, 100),
        "interactions": st.lists(
            st.tuples(
                st.sampled_from(TYPES) | st.just("webinar_attendance"),
                st.one_of(
                    st.sampled_from((0, 1, 14, 30, -2)), *[st.floats(0, 30)] * 3, st.floats(-10, 400)
                ),
                st.fixed_dictionaries(
                    {
                        "url": mostly(("/pricing", "/Pricing/x", "/careers/", "/blog", "", " ", None, 42), ("/préx",)),
                        "asset_stage": st.sampled_from(("decision", "Decision ", "consideration", "")),
                    },
                    optional={"duration_seconds": mostly((0, 5, 10.5, 30, " ", None, 1e-3, 45.25), ("45", True))},
                ),
            ),
            min_size=6,
            max_size=20,
        )
        | st.just(()),
    }
)


def make_lead(n, spec):
    company = None
    if spec["company"] is not None:
        fields = dict(spec["company"])
        domain = fields.pop("domain")
        if domain is None:
            company = Company.objects.create(name=f"Co {n}", **fields)
        else:  # domains are unique: leads of one domain share the first such company
            company, _ = Company.objects.get_or_create(domain=domain, defaults={"name": f"Co {n}", **fields})
    previous = {}
    if spec["previous"] != "cold":
        previous = {"format": 2, "score": spec["old_score"], "mql": spec["previous"] == "mql"}
    nurture = spec["nurture_days"]
    lead = Lead.objects.create(
        email=f"{n}.{spec['email']}",
        job_title=spec["job_title"],
        seniority=spec["seniority"],
        country=spec["country"],
        source=spec["source"],
        stage=spec["stage"],
        nurture_until=(NOW + timedelta(days=nurture)).date() if nurture is not None else None,
        conversion_probability=spec["conversion_probability"],
        attributes=spec["attributes"],
        company=company,
        score=spec["old_score"] if previous else 0,
        score_explanation=previous,
    )
    Interaction.objects.bulk_create(
        Interaction(
            lead=lead,
            type=type_,
            occurred_at=NOW - timedelta(days=days_ago),
            properties=properties,
        )
        for i, (type_, days_ago, properties) in enumerate(spec["interactions"])
    )
    return lead.pk


def outcome(ids):
    leads = list(
        Lead.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list(
            "pk",
            "fit_score",
            "fit_grade",
            "engagement_score",
            "score",
            "score_explanation",
            "stage",
            "needs_rescore",
            "scored_at",
            "owner_id",
            "stage_changed_at",
        )
    )
    ledger = list(
        ScoreChange.objects.filter(lead_id__in=ids)
        .order_by("lead_id", "kind", "rule_key")
        .values_list(
            "lead_id",
            "kind",
            "rule_key",
            "label",
            "interaction_id",
            "points",
            "value_after",
            "score_after",
            "fit_grade_after",
            "engagement_after",
            "cause",
            "computed_at",
        )
    )
    history = list(
        StageChange.objects.filter(lead_id__in=ids)
        .order_by("lead_id")
        .values_list("lead_id", "from_stage", "to_stage", "reason", "score", "details")
    )
    return json.dumps([leads, ledger, history], default=repr, sort_keys=True)


class Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


def model_row_for(model):
    row = ScoringModel.objects.create(
        name="bulk", version=7, definition=engine.model_to_dict(model), status=ScoringModel.Status.DRAFT
    )
    return row, services.ActiveModel(row, model)


def both_paths(active, lead_specs, time_machine):
    """The rows a chunk of these leads ends with, scored by the engine and by the job's SQL path
    (each rolled back: the same leads, interactions and ids for both), and how many leads the
    SQL statement handed to the engine."""
    time_machine.move_to(NOW, tick=False)
    found = {}
    with rolled_back():
        ids = [make_lead(n, spec) for n, spec in enumerate(lead_specs)]
        with rolled_back():
            services._score_chunk(
                ids, active=active, cause=ScoreChange.Cause.MODEL, only_marked=False, detailed_ledger=False
            )
            found["engine"] = outcome(ids)
        with rolled_back():
            done = services._score_chunk_for_job(ids, active=active, cause=ScoreChange.Cause.MODEL)
            assert done.rescored_ids == frozenset(ids)
            found["sql"] = outcome(ids)
        scorer = services.bulk_scorer(active)
        if scorer is not None:
            with rolled_back(), connection.cursor() as cursor:
                params = scorer.params(lead_ids=ids, now=NOW, model_id=active.row.pk, version=7, cause="model")
                cursor.execute(scorer.sql, params)
                in_sql = [lead_id for lead_id, python, *_ in cursor.fetchall() if not python]
                found["to_engine"] = len(ids) - len(in_sql)
                found["rules_in_sql"] = [
                    len(e["engagement"]["rules"])
                    for e in Lead.objects.filter(pk__in=in_sql).values_list("score_explanation", flat=True)
                ]
    return found


@settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(model=model_st, lead_specs=st.lists(lead_st, min_size=1, max_size=4))
def test_sql_and_engine_leave_exactly_the_same_rows(model, lead_specs, time_machine):
    with rolled_back():
        _, active = model_row_for(model)
        found = both_paths(active, lead_specs, time_machine)
        assert found["sql"] == found["engine"]
        rules = found.get("rules_in_sql", [])
        event(f"leads scored in SQL: {'none' if not rules else 'some'}")
        event(f"SQL explanations with 2+ rules: {'some' if any(n >= 2 for n in rules) else 'none'}")


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=st.lists(rule_st, min_size=2, max_size=5, unique_by=lambda rule: rule.key),
    total_cap=st.none() | st.sampled_from((10.5, 100)),
    lead_specs=st.lists(lead_st.map(lambda spec: {**spec, "stage": "sal"}), min_size=1, max_size=4),
)
def test_sql_and_engine_add_up_engagement_exactly_alike(rules, total_cap, lead_specs, time_machine):
    """The same on models without an ICP, so that most leads are scored in SQL and their
    explanations carry several rules."""
    model = engine.ScoringModel(icp=engine.ICP(()), rules=tuple(rules), total_cap=total_cap)
    with rolled_back():
        _, active = model_row_for(model)
        found = both_paths(active, lead_specs, time_machine)
        assert found["sql"] == found["engine"]
        rules = found.get("rules_in_sql", [])
        event(f"SQL explanations with 2+ rules: {'some' if any(n >= 2 for n in rules) else 'none'}")


def test_the_default_model_compiles_and_scores_plain_leads_in_sql(time_machine):
    """Without this the property test could pass with everything routed to the engine."""
    model = engine.default_model()
    assert bulk_sql.compile_model(model) is not None
    _, active = model_row_for(model)
    plain = {
        "email": "a@acme.io",
        "job_title": "VP Sales",
        "seniority": "vp",
        "country": "US",
        "source": "organic_search",
        "stage": "sal",
        "nurture_days": None,
        "conversion_probability": None,
        "attributes": {},
        "company": {"domain": "acme.io", "industry": "software", "employee_count": 250, "annual_revenue": 10**7},
        "previous": "scored",
        "old_score": 3,
        "interactions": [
            ("page_view", 1, {"url": "/pricing"}),
            ("page_view", 3, {"url": "/blog"}),
            ("content_download", 20, {"asset_stage": "decision"}),
            ("email_click", 0.5, {}),
        ],
    }
    found = both_paths(active, [plain, {**plain, "previous": "cold"}], time_machine)
    assert found["to_engine"] == 0
    assert found["sql"] == found["engine"]
    assert '"rules": [["page_view", 2' in found["sql"]  # it did score something
    hand_raiser = {**plain, "stage": "lead", "interactions": [*plain["interactions"], ("demo_request", 0, {})]}
    unusual = [{**plain, "job_title": "Directeur Général"}, hand_raiser]  # not ASCII; a promotion
    found = both_paths(active, unusual, time_machine)
    assert found["to_engine"] == 2
    assert found["sql"] == found["engine"]
    assert '"lead", "mql"' in found["sql"]  # the promotion, with its stage history


def test_a_model_sql_cannot_translate_is_scored_by_the_engine():
    number_target = engine.EngagementRule("seats", "Seats", ("page_view",), 5, (PropertyFilter("seats", "equals", 5),))
    model = engine.ScoringModel(icp=engine.ICP(()), rules=(number_target,))
    assert bulk_sql.compile_model(model) is None
