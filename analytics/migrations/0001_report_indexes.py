"""Covering indexes for the analytics queries (tables of the handoff app, owned here).

StageChange is append-only, so its pages stay all-visible and these serve index-only scans:
the MQL cohort, the stages reached, rejection reasons and verdicts read (to_stage, created_at)
with the lead and reason in the index; time in stage reads each lead's history from
(lead_id, created_at, id). They supersede handoff's stagechange_to_time and
stagechange_lead_time (a b-tree reads both ways), which the handoff app could then drop.
Assignments had no index on assigned_at, which the SLA figure filters on.

CONCURRENTLY: building them must not block writes on a live database (hence atomic = False).
"""

from django.db import migrations

INDEXES = {
    "analytics_stagechange_to_time": (
        "handoff_stagechange (to_stage, created_at) INCLUDE (lead_id, from_stage, action, reason)"
    ),
    "analytics_stagechange_lead_time": "handoff_stagechange (lead_id, created_at, id) INCLUDE (from_stage, to_stage)",
    "analytics_assignment_assigned": "handoff_assignment (assigned_at)",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("handoff", "0003_webhooks")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
