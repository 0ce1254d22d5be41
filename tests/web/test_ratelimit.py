"""Ingest rate limits: past the per-bin or per-client rate a sender gets 429 with Retry-After
and nothing is stored; other bins and other clients are not affected."""

from __future__ import annotations

from pathlib import Path

from actions import BinActions

from receiver.web.ratelimit import RateTable
from receiver.web.ratelimit import client_key
from receiver.web.services import services


def frozen_clock(app, tmp_path: Path) -> None:
    """Stop the app's rate table's clock, so that no token comes back during the test."""
    found = services(app)
    assert found.rates is not None
    found.rates.close()
    found.rates = RateTable(tmp_path / "frozen-rates", clock=lambda: 1000.0)


def test_a_bin_past_its_rate_gets_429_with_retry_after_and_nothing_stored(make_app, tmp_path):
    app = make_app(RECEIVER_RATE_PER_BIN=3, RECEIVER_INSTANCE_PATH=str(tmp_path))
    frozen_clock(app, tmp_path)
    bins = BinActions(app.test_client())
    limited, other = bins.create()["id"], bins.create()["id"]

    answers = [bins.ingest(limited, body=b"{}") for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert len(bins.requests(limited)["requests"]) == 3
    assert bins.ingest(other, body=b"{}").status_code == 200


def test_a_client_past_its_rate_gets_429_on_any_bin(make_app, tmp_path):
    app = make_app(RECEIVER_RATE_PER_CLIENT=2, RECEIVER_INSTANCE_PATH=str(tmp_path))
    frozen_clock(app, tmp_path)
    bins = BinActions(app.test_client())
    first, second = bins.create()["id"], bins.create()["id"]

    statuses = [bins.ingest(bin_id, body=b"x").status_code for bin_id in (first, second, first)]

    assert statuses == [200, 200, 429]


def test_the_bucket_refills_at_its_rate(tmp_path: Path):
    now = [1000.0]
    table = RateTable(tmp_path / "rates", clock=lambda: now[0])
    try:
        assert [table.take("bin:a", 2) for _ in range(2)] == [0.0, 0.0]
        wait = table.take("bin:a", 2)
        assert 0.4 < wait <= 0.5
        now[0] += wait
        assert table.take("bin:a", 2) == 0.0
        assert table.take("bin:b", 2) == 0.0  # another key has its own bucket
    finally:
        table.close()


def test_the_table_is_shared_by_every_process_that_maps_the_file(tmp_path: Path):
    one, two = RateTable(tmp_path / "rates"), RateTable(tmp_path / "rates")
    try:
        assert one.take("client:10.0.0.1", 1) == 0.0
        assert two.take("client:10.0.0.1", 1) > 0.0
    finally:
        one.close()
        two.close()


def test_ipv6_clients_are_keyed_by_their_64_network():
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "client:2001:db8::/64"
    assert client_key("::ffff:192.0.2.7") == "client:192.0.2.7"
