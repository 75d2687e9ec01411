import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """The owner FK's own index duplicates lead_owner_stage (owner, stage). Django's AlterField
    would drop and re-add the foreign key, validating every lead under a lock; only the index
    goes, concurrently, and the constraint stays as it is."""

    atomic = False  # DROP INDEX CONCURRENTLY: writers are not locked out

    dependencies = [
        ("leads", "0007_search_prefix_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="lead",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owned_leads",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS leads_lead_owner_id_1f4568d0",
                    reverse_sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS leads_lead_owner_id_1f4568d0"
                    " ON leads_lead (owner_id)",
                ),
            ],
        ),
    ]
