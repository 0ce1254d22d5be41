"""change markers for the capture path: a bin's settings version, the user catalog's version

Revision ID: b7c1d2e3f4a5
Revises: 91ee4e447b83
Create Date: 2026-12-07 06:00:00

The capture path keeps bins and the merged catalog in memory and checks, in each commit, that
neither changed since (see capture.store). Existing bins get settings version 0; every later
change gives a bin a new random one. The catalog's version is one row, moved by triggers on
every write to the user schema and provider tables, so no code path can forget it.

A forward job is found by its capture through an index of its own: deleting a capture (an
eviction, say) no longer scans every forward job for the cascade.

On SQLite a deleted capture's text leaves the search index in the background: the trigger that
deleted it from the FTS5 table at once (as much work as indexing it) now only notes its id in
``search_gone``, which the text indexer works through (capture.indexer).

On PostgreSQL a trigger also notifies channel ``receiver_feed`` with
``<schema>:<bin id>:<last_seq>``
whenever a commit moves a bin's capture sequence: the change feed's watchers LISTEN instead of
asking every tenth of a second (capture.feed).
"""

import sqlalchemy as sa
from alembic import op

revision = "b7c1d2e3f4a5"
down_revision = "91ee4e447b83"
branch_labels = None
depends_on = None

TABLES = ("user_schema", "user_provider")


def upgrade():
    # added in place: no table rebuild
    with op.batch_alter_table("bin", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settings_version", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "catalog_marker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_marker")),
    )
    op.execute("INSERT INTO catalog_marker (id, version) VALUES (1, 0)")
    with op.batch_alter_table("forward_job", schema=None) as batch_op:
        batch_op.create_index("ix_forward_job_request_id", ["request_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TABLE search_gone (request_id INTEGER NOT NULL PRIMARY KEY)")
        op.execute("DROP TRIGGER request_search_delete")
        op.execute(
            "CREATE TRIGGER request_search_gone AFTER DELETE ON captured_request BEGIN"
            " INSERT OR IGNORE INTO search_gone (request_id) VALUES (old.id); END"
        )
        for table in TABLES:
            for action in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{action.lower()}_marks_catalog AFTER {action}"
                    f" ON {table} BEGIN UPDATE catalog_marker SET version = version + 1"
                    " WHERE id = 1; END"
                )
        return
    op.execute(
        "CREATE FUNCTION receiver_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN UPDATE catalog_marker SET version = version + 1 WHERE id = 1;"
        " RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_marks_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION receiver_catalog_changed()"
        )
    op.execute(
        "CREATE FUNCTION receiver_feed_moved() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_notify('receiver_feed',"
        " current_schema() || ':' || NEW.id || ':' || NEW.last_seq);"
        " RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER bin_feed_moved AFTER UPDATE OF last_seq ON bin FOR EACH ROW"
        " WHEN (NEW.last_seq <> OLD.last_seq) EXECUTE FUNCTION receiver_feed_moved()"
    )


def downgrade():
    with op.batch_alter_table("forward_job", schema=None) as batch_op:
        batch_op.drop_index("ix_forward_job_request_id")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS request_search_gone")
        op.execute("DELETE FROM request_search WHERE rowid IN (SELECT request_id FROM search_gone)")
        op.execute("DROP TABLE IF EXISTS search_gone")
        op.execute(
            "CREATE TRIGGER request_search_delete AFTER DELETE ON captured_request BEGIN"
            " DELETE FROM request_search WHERE rowid = old.id; END"
        )
        for table in TABLES:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{action}_marks_catalog")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_marks_catalog ON {table}")
        op.execute("DROP FUNCTION IF EXISTS receiver_catalog_changed()")
        op.execute("DROP TRIGGER IF EXISTS bin_feed_moved ON bin")
        op.execute("DROP FUNCTION IF EXISTS receiver_feed_moved()")
    op.drop_table("catalog_marker")
    with op.batch_alter_table("bin", schema=None) as batch_op:
        batch_op.drop_column("settings_version")
