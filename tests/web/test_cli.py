"""Command-line tools: ``flask prune`` removes expired bins with everything captured in them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest
from receiver.storage.models import utcnow


def expire(app, *bin_ids: str) -> None:
    """Move bins' expiry into the past (time is set in the database, never slept)."""
    with app.app_context():
        db.session.execute(
            update(Bin).where(Bin.id.in_(bin_ids)).values(expires_at=utcnow() - timedelta(days=1))
        )
        db.session.commit()


def stored(app) -> tuple[set[str], dict[str, int]]:
    """The bins that exist, and how many requests each holds."""
    with app.app_context():
        bin_ids = set(db.session.scalars(select(Bin.id)))
        counts = dict(
            db.session.execute(
                select(CapturedRequest.bin_id, func.count()).group_by(CapturedRequest.bin_id)
            ).all()
        )
    return bin_ids, counts


def test_prune_removes_expired_bins_with_their_requests_and_keeps_live_ones(app, runner, bins):
    gone = [bins.create()["id"] for _ in range(2)]
    live = bins.create()["id"]
    for bin_id in (*gone, live):
        bins.ingest(bin_id)
        bins.ingest(bin_id)
    expire(app, *gone)
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "pruned 2 expired bins" in result.output
    bin_ids, counts = stored(app)
    assert bin_ids == {live}
    assert counts == {live: 2}


def test_prune_with_nothing_expired_changes_nothing(app, runner, bins):
    bin_id = bins.create()["id"]
    bins.ingest(bin_id)
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0
    assert "pruned 0 expired bins" in result.output
    assert stored(app) == ({bin_id}, {bin_id: 1})


def test_prune_says_bin_in_the_singular(app, runner, bins):
    bin_id = bins.create()["id"]
    expire(app, bin_id)
    assert "pruned 1 expired bin\n" in runner.invoke(args=["prune"]).output


def test_a_pruned_bin_answers_404_everywhere(app, runner, client, bins):
    bin_id = bins.create()["id"]
    expire(app, bin_id)
    runner.invoke(args=["prune"])
    assert client.get(f"/api/bins/{bin_id}").status_code == 404
    assert client.post(f"/b/{bin_id}").status_code == 404
    assert client.get(f"/bins/{bin_id}").status_code == 404


# --- the receiver command itself -------------------------------------------------------------

FLASK_INSIDES = ("-A, --app", "-e, --env-file", "--debug", " run ", " shell ", " routes ")


def test_receiver_help_lists_receivers_commands_only(runner):
    from receiver.cli import COMMANDS

    result = runner.invoke(args=["--help"])

    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed if line.strip()] == list(COMMANDS)
    for inside in FLASK_INSIDES:
        assert inside not in result.output


def test_every_command_in_the_table_loads_and_says_receiver_in_its_help(runner):
    from receiver.cli import COMMANDS

    for name in COMMANDS:
        result = runner.invoke(args=[name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: receiver {name} "), result.output
    send = runner.invoke(args=["send", "--help"]).output
    assert "receiver send PROVIDER EVENT --to URL" in send
    assert "flask" not in send


def test_flasks_commands_are_under_receiver_flask_and_migrations_under_receiver_db(runner):
    flask_help = runner.invoke(args=["flask", "--help"]).output
    for command in ("run", "shell", "routes", "db"):
        assert f"\n  {command} " in flask_help
    db_help = runner.invoke(args=["db", "--help"]).output
    assert "\n  upgrade " in db_help and "\n  migrate " in db_help
    current = runner.invoke(args=["db", "current"])
    assert current.exit_code == 0, current.output


def test_receiver_version_is_the_packages(runner):
    from receiver.version import package_version

    assert runner.invoke(args=["--version"]).output == f"receiver {package_version()}\n"
