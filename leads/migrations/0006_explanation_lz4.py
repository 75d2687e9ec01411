"""Compress score explanations with lz4 instead of pglz.

Every rescore rewrites each lead's ~2.4 KB explanation; PostgreSQL compresses it before storing it,
and lz4 does that in well under half the CPU of the default pglz (bench/README.md, Scoring). A
server built without lz4 keeps pglz: the statement is skipped, nothing else depends on it.
"""

from django.db import migrations

LZ4 = """
DO $$
BEGIN
    -- The ALTER takes a brief exclusive lock: fail after 10 s (run the migration again) rather
    -- than queue every read and write of leads behind a long-running rescore chunk.
    PERFORM set_config('lock_timeout', '10s', true);
    ALTER TABLE leads_lead ALTER COLUMN score_explanation SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server; score explanations stay pglz';
END $$;
"""
PGLZ = "ALTER TABLE leads_lead ALTER COLUMN score_explanation SET COMPRESSION pglz;"


class Migration(migrations.Migration):
    dependencies = [("leads", "0005_mql_queue_indexes")]

    operations = [migrations.RunSQL(LZ4, PGLZ)]
