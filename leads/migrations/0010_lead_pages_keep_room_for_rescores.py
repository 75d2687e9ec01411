"""Room on every leads page for its rows' next versions, and one full-table index fewer.

A rescore rewrites every lead it scores. PostgreSQL can keep the new version on the same page
and skip every index ("HOT") only when no indexed column changed and the page has room; on a
packed table each rewrite moved the row and added an entry to each of the ten full-table
indexes, ~50-90 us of the ~100 us an UPDATE of a lead cost (bench/README.md, Scoring).
With fillfactor 50, inserts fill a page only half way, and rows moved by an update go only to
pages that are less than half full, so a page keeps the room its rows need: after a change that
leaves the scores as they were (a new MQL threshold, a fast-lane grade, decay that rounds to the
same points) the rewrites are HOT. The cost is space: ~1.2 KB a lead becomes ~2.4-2.7 KB of
table, about what a packed table bloats to after a few full rescores anyway.

Setting it is instant and rewrites nothing: existing pages get their room as rows move.
`VACUUM FULL leads_lead` applies it at once (an exclusive lock, ~1 minute per million leads).

lead_stage_owner (stage, owner, -score, -id) is dropped: every query by owner is served by
lead_owner_stage (owner, stage), and an owner's leads in a stage are few enough to sort.
"""

from django.db import migrations

FILLFACTOR = 50


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY: writers are not locked out

    dependencies = [("leads", "0009_explanation_as_json")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE leads_lead SET (fillfactor = {FILLFACTOR})",
            reverse_sql="ALTER TABLE leads_lead RESET (fillfactor)",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="lead", name="lead_stage_owner")],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS lead_stage_owner",
                    reverse_sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_stage_owner"
                    ' ON leads_lead (stage, owner_id, score DESC, id DESC)',
                ),
            ],
        ),
    ]
