"""Store score explanations as PostgreSQL json (validated text) instead of jsonb.

Every rescore rewrites each lead's explanation; parsing it into jsonb cost ~14 us a lead against
~3 us to validate json, and the text is a third smaller than the binary form (bench/README.md,
Scoring). The ALTER rewrites the leads table under an exclusive lock: about a minute per million
leads, during which leads can be neither read nor written. The lz4 compression of 0006 is set
again afterwards (where the server has it).
"""

from importlib import import_module

from django.db import migrations

import leads.models

LZ4 = import_module("leads.migrations.0006_explanation_lz4").LZ4


class Migration(migrations.Migration):
    dependencies = [("leads", "0008_owner_index_covered_by_owner_stage")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="lead",
                    name="score_explanation",
                    field=leads.models.JSONTextField(blank=True, default=dict),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE leads_lead ALTER COLUMN score_explanation TYPE json"
                    " USING score_explanation::json",
                    reverse_sql="ALTER TABLE leads_lead ALTER COLUMN score_explanation TYPE jsonb"
                    " USING score_explanation::jsonb",
                ),
                migrations.RunSQL(LZ4, migrations.RunSQL.noop),
            ],
        ),
    ]
