"""Migration operations shared by the apps' migrations."""

from django.contrib.postgres.operations import AddIndexConcurrently


class AddIndexConcurrentlyRetryable(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY that can simply be run again after a failure.

    Concurrent builds cannot run in a transaction, so a migration holding several of them may stop
    halfway (a cancelled build, a killed deploy) with some indexes built, or one left INVALID, and
    the migration not recorded. Running it again first drops what a failed run may have left under
    this index's name, then builds it.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        name = schema_editor.quote_name(self.index.name)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        super().database_forwards(app_label, schema_editor, from_state, to_state)
