"""The lead table's indexes: each one costs every rescore's row rewrite an entry."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _lead_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'leads_lead'")
        return dict(cursor.fetchall())


def test_lookups_by_owner_use_the_owner_stage_index_and_no_duplicate_exists():
    indexes = _lead_indexes()
    assert "(owner_id, stage)" in indexes["lead_owner_stage"]
    assert [name for name, sql in indexes.items() if sql.endswith("(owner_id)")] == []
    with connection.cursor() as cursor:  # the foreign key itself is still there
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'leads_lead'::regclass"
            " AND contype = 'f' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute"
            " WHERE attrelid = 'leads_lead'::regclass AND attname = 'owner_id')]"
        )
        assert cursor.fetchone()[0] == 1


def test_lead_pages_keep_room_for_rescores_and_no_index_repeats_the_owner_lookup():
    """Half of each page free, so a rescore that leaves the indexed scores as they were
    rewrites its rows in place (HOT) instead of adding an entry to every index."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'leads_lead'::regclass")
        assert "fillfactor=50" in cursor.fetchone()[0]
    indexes = _lead_indexes()
    assert "lead_stage_owner" not in indexes
    assert [name for name, sql in indexes.items() if "(stage, owner_id" in sql] == []


def test_score_explanations_are_stored_as_json_text_and_read_back_exactly():
    """json, not jsonb: a rescore writes one per lead, and jsonb's parse cost ~14 us of it."""
    from leads.models import Lead

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'leads_lead' AND column_name = 'score_explanation'"
        )
        assert cursor.fetchone()[0] == "json"
    document = {"fit": {"criteria": [["title", True, 10, "Head of R&D \u2713"]]}, "big": 2**70, "mql": False}
    lead = Lead.objects.create(email="doc@example.com", score_explanation=document)
    assert Lead.objects.get(pk=lead.pk).score_explanation == document
    assert Lead.objects.filter(pk=lead.pk).values_list("score_explanation__mql", flat=True).get() is False
    fresh = Lead.objects.create(email="new@example.com")
    assert Lead.objects.get(pk=fresh.pk).score_explanation == {}
