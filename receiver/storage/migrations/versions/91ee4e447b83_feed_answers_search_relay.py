"""capture sequence, kept answers, text search, listeners, scenarios, user providers

Revision ID: 91ee4e447b83
Revises: 6a9a79e4d0c8
Create Date: 2026-11-29 21:40:00

Existing captures get their sequence numbers in id order, per bin, and each bin's counter
continues after its highest. Existing captures are queued for the text index, which the
background indexer builds.
"""

import sqlalchemy as sa
from alembic import op

revision = "91ee4e447b83"
down_revision = "6a9a79e4d0c8"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("bin", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("response_script", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("script_base_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("signature_previous_secrets", sa.JSON(), nullable=True))

    # added in place (no table rebuild, which on SQLite would drop AUTOINCREMENT), filled below
    with op.batch_alter_table("captured_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("response", sa.JSON(), nullable=True))

    op.execute(
        "UPDATE captured_request SET seq = (SELECT count(*) FROM captured_request AS earlier"
        " WHERE earlier.bin_id = captured_request.bin_id AND earlier.id <= captured_request.id)"
    )
    op.execute(
        "UPDATE bin SET last_seq = coalesce((SELECT max(seq) FROM captured_request"
        " WHERE captured_request.bin_id = bin.id), 0),"
        " stored_bytes = coalesce((SELECT sum(size) FROM captured_request"
        " WHERE captured_request.bin_id = bin.id), 0)"
    )
    with op.batch_alter_table("captured_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_captured_request_bin_id_seq", ["bin_id", "seq"], unique=True
        )

    # what older captures were answered was not kept
    op.execute("""UPDATE captured_request SET response = '{"unknown": true}'""")

    with op.batch_alter_table("user_schema", schema=None) as batch_op:
        batch_op.alter_column("schema", existing_type=sa.JSON(), nullable=True)

    op.create_table(
        "user_provider",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("detection", sa.JSON(), nullable=True),
        sa.Column("signature", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_provider")),
    )
    op.create_table(
        "listener",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("bin_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_request_id", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_elapsed_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bin_id"], ["bin.id"], name=op.f("fk_listener_bin_id_bin"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listener")),
        sa.UniqueConstraint("bin_id", "name", name="uq_listener_bin_id_name"),
    )
    op.create_table(
        "scenario",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("bin_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bin_id"], ["bin.id"], name=op.f("fk_scenario_bin_id_bin"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario")),
    )
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.create_index("ix_scenario_bin_id_id", ["bin_id", "id"], unique=False)

    with op.batch_alter_table("replay", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scenario_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("listener_name", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_replay_scenario_id_scenario"),
            "scenario",
            ["scenario_id"],
            ["id"],
            ondelete="CASCADE",
        )

    op.create_table(
        "search_queue",
        sa.Column("request_id", BigId, autoincrement=False, nullable=False),
        sa.Column("bin_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["captured_request.id"],
            name=op.f("fk_search_queue_request_id_captured_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_search_queue")),
    )
    with op.batch_alter_table("search_queue", schema=None) as batch_op:
        batch_op.create_index("ix_search_queue_bin_id", ["bin_id"], unique=False)
    create_search_index()
    # existing captures are indexed by the background indexer like new ones
    op.execute("INSERT INTO search_queue (request_id, bin_id) SELECT id, bin_id FROM captured_request")


def create_search_index():
    """The text search table: FTS5 with trigrams on SQLite, pg_trgm on PostgreSQL.

    One row per capture (its id), the bin it belongs to, and the text a search looks in; rows go
    with their capture (a trigger on SQLite, whose virtual tables have no foreign keys).
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE request_search USING fts5("
            "text, bin_id UNINDEXED, tokenize = 'trigram')"
        )
        op.execute(
            "CREATE TRIGGER request_search_delete AFTER DELETE ON captured_request BEGIN"
            " DELETE FROM request_search WHERE rowid = old.id; END"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # the operator class lives where the extension was installed, maybe outside search_path
        schema = (
            op.get_bind()
            .execute(
                sa.text(
                    "SELECT nspname FROM pg_extension"
                    " JOIN pg_namespace ON pg_namespace.oid = extnamespace"
                    " WHERE extname = 'pg_trgm'"
                )
            )
            .scalar()
        )
        op.execute(
            "CREATE TABLE request_search ("
            " request_id BIGINT PRIMARY KEY"
            " REFERENCES captured_request (id) ON DELETE CASCADE,"
            " bin_id VARCHAR(64) NOT NULL,"
            " text TEXT NOT NULL)"
        )
        op.execute(
            "CREATE INDEX ix_request_search_text ON request_search"
            f' USING gin (text "{schema}".gin_trgm_ops)'
        )
        op.execute("CREATE INDEX ix_request_search_bin_id ON request_search (bin_id)")


def downgrade():
    op.execute("DROP TABLE IF EXISTS request_search")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS request_search_delete")
    with op.batch_alter_table("search_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_search_queue_bin_id")
    op.drop_table("search_queue")
    with op.batch_alter_table("replay", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_replay_scenario_id_scenario"), type_="foreignkey")
        batch_op.drop_column("listener_name")
        batch_op.drop_column("scenario_id")
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.drop_index("ix_scenario_bin_id_id")
    op.drop_table("scenario")
    op.drop_table("listener")
    op.drop_table("user_provider")
    with op.batch_alter_table("user_schema", schema=None) as batch_op:
        batch_op.alter_column("schema", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("captured_request", schema=None) as batch_op:
        batch_op.drop_index("ix_captured_request_bin_id_seq")
        batch_op.drop_column("response")
        batch_op.drop_column("seq")
    with op.batch_alter_table("bin", schema=None) as batch_op:
        batch_op.drop_column("signature_previous_secrets")
        batch_op.drop_column("script_base_seq")
        batch_op.drop_column("response_script")
        batch_op.drop_column("last_seq")
        batch_op.drop_column("stored_bytes")
        batch_op.drop_column("token_version")
