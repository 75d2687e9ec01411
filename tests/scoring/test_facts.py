"""The rows-to-facts layer and the scoring writes' encodings, on PostgreSQL."""

import json

import pytest
from django.db import connection

from leads import services as lead_services
from leads.models import Interaction
from scoring import engine, services
from scoring.facts import as_json, load_interactions

pytestmark = pytest.mark.django_db

BIG = 123456789012345678901234567890


def test_as_json_reads_what_json_reads_and_keeps_long_integers_exact():
    for text in ('{"a": 1.5, "b": "é", "c": [1, null, true]}', '{"n": 4.0, "m": -0.0, "e": 1e16}'):
        assert as_json(text) == json.loads(text)
    exact = as_json(f'{{"revenue": {BIG}, "id": 12345678901234567890}}')
    assert exact == {"revenue": BIG, "id": 12345678901234567890}
    assert type(exact["revenue"]) is int
    assert as_json('{"a": 1e400}') == {"a": float("inf")}  # what json.loads reads
    assert as_json("") == {} and as_json(None) == {}


@pytest.mark.parametrize(
    "value",
    [
        {"points": 4.0, "decayed": 1e16, "tiny": 5e-324, "zero": -0.0, "text": "Zürich ✓", "ids": [1, 2]},
        {"attributes": {"seats": BIG, "nested": {"a": [None, True, 0.1]}}},
    ],
)
def test_dumps_json_stores_the_jsonb_that_json_dumps_stores(value):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::jsonb::text, %s::jsonb::text", [services.dumps_json(value), json.dumps(value)]
        )
        fast, reference = cursor.fetchone()
    assert fast == reference


def test_the_interaction_loader_sends_only_the_properties_filters_read():
    lead_id = lead_services.lead_upsert(data={"email": "a@acme-soft.io"}).lead_id
    for i, props in enumerate(
        [{"url": "/pricing", "referrer": "x" * 500, "title": "Plans"}, {"title": "Blog"}]
    ):
        Interaction.objects.create(
            lead_id=lead_id, type="page_view", occurred_at="2026-11-30T10:00:00Z", properties=props,
            external_id=f"p{i}",
        )  # fmt: skip
    reads = engine.interaction_reads(services.active_model().model)
    with connection.cursor() as cursor:
        facts = load_interactions(cursor, [lead_id], reads=reads)[lead_id]
    assert [dict(f.properties) for f in facts] == [
        {key: {"url": "/pricing"}.get(key) for key in reads.property_keys},
        dict.fromkeys(reads.property_keys),
    ]


TRICKY = [
    "C:\\temp\\new\tline\nnext\r\\N",
    'say "hi" \u2028 then \x85 \u00e9 \u2713 \x1c',
    "\\",
    "",
]


def _tricky_lead() -> tuple[int, engine.InteractionReads]:
    lead_id = lead_services.lead_upsert(data={"email": "c@acme-soft.io"}).lead_id
    reads = engine.interaction_reads(services.active_model().model)
    keys = sorted(reads.property_keys)
    values = [*TRICKY, BIG, -0.5, 1e16, None, True, [1, "x\ty"], {"nested": "\\N"}]
    for i, value in enumerate(values):
        Interaction.objects.create(
            lead_id=lead_id, type="page_view", occurred_at="2026-11-30T10:00:00Z",
            properties={keys[i % len(keys)]: value, "referrer": value}, external_id=f"t{i}",
        )  # fmt: skip
    Interaction.objects.create(
        lead_id=lead_id, type="email_open", occurred_at="2026-11-30T11:00:00Z",
        properties={"subject": TRICKY[0]}, external_id="o1",
    )  # fmt: skip
    return lead_id, reads


def test_the_lean_loader_reads_every_property_value_exactly_through_copy():
    """COPY's text format escapes backslashes, tabs and line breaks; a JSON string may hold
    U+2028 or U+0085 raw (a line break to str.splitlines). Each value must come back exactly
    as the full loader reads it."""
    lead_id, reads = _tricky_lead()
    with connection.cursor() as cursor:
        full = load_interactions(cursor, [lead_id])[lead_id]
        lean = load_interactions(cursor, [lead_id], reads=reads)[lead_id]
    by_id = {f.id: f for f in full if f.type in reads.types}
    assert [f.id for f in lean] == sorted(by_id)
    for fact in lean:
        expected = by_id[fact.id]
        assert (fact.type, fact.occurred_at) == (expected.type, expected.occurred_at)
        if fact.type in reads.property_types:
            assert fact.properties == {k: expected.properties.get(k) for k in reads.property_keys}
        else:
            assert fact.properties == {}
    assert any(f.properties.get(k) == BIG for f in lean for k in reads.property_keys)


def test_past_the_column_limit_the_lean_loader_reads_whole_properties(monkeypatch):
    from scoring import facts

    lead_id, reads = _tricky_lead()
    monkeypatch.setattr(facts, "_MAX_KEY_COLUMNS", 0)
    with connection.cursor() as cursor:
        full = {f.id: f for f in load_interactions(cursor, [lead_id])[lead_id]}
        lean = load_interactions(cursor, [lead_id], reads=reads)[lead_id]
    assert lean and all(
        f.properties == (full[f.id].properties if f.type in reads.property_types else {}) for f in lean
    )


def test_scoring_transactions_run_without_jit_or_parallel_workers():
    lead_id = lead_services.lead_upsert(data={"email": "b@acme-soft.io"}).lead_id
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        if sql.startswith("SELECT l.id"):  # load_leads, inside the scoring transaction
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')"
                )
                seen.append(cursor.fetchone())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        services.lead_rescore_now(lead_id=lead_id)
    assert ("off", "0") in seen


def test_the_cycle_collector_pauses_while_a_chunk_is_scored_and_always_resumes():
    import gc

    lead_id = lead_services.lead_upsert(data={"email": "c@acme-soft.io"}).lead_id
    during = []

    def spy(execute, sql, params, many, context):
        if sql.startswith("SELECT l.id"):
            during.append(gc.isenabled())
        return execute(sql, params, many, context)

    assert gc.isenabled()
    with connection.execute_wrapper(spy):
        services.lead_rescore_now(lead_id=lead_id)
    assert during == [False] and gc.isenabled()

    def fail(execute, sql, params, many, context):
        if sql.startswith("SELECT l.id"):
            raise RuntimeError("the database went away")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail), pytest.raises(RuntimeError):
        services.lead_rescore_now(lead_id=lead_id)
    assert gc.isenabled()
