"""The bin lifecycle in the core, with time injected: create, look up, expire, prune, settings,
and the answer a bin gives."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from actions import store_captures
from flask import current_app
from sqlalchemy import func
from sqlalchemy import select

from receiver.bins import lifecycle as bins
from receiver.bins import retention
from receiver.capture.request import RawRequest
from receiver.storage.db import db
from receiver.storage.models import Bin
from receiver.storage.models import CapturedRequest

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
TTL = 7

pytestmark = pytest.mark.usefixtures("app_ctx")


def create(**fields: Any) -> Bin:
    return bins.create_bin(db.session, now=fields.pop("now", T0), ttl_days=TTL, **fields)


def one_byte_captures(found: Bin, count: int = 1) -> list[int]:
    """Commit ``count`` one-byte captures through the capture store, leaving the expiry alone."""
    db.session.commit()  # the store writes on a connection of its own
    raws = [RawRequest("POST", "/", "", [], b"x") for _ in range(count)]
    ids = store_captures(current_app._get_current_object(), found.id, raws, found.created_at)
    db.session.expire_all()
    return ids


def count_requests(bin_id: str | None = None) -> int:
    query = select(func.count()).select_from(CapturedRequest)
    if bin_id is not None:
        query = query.where(CapturedRequest.bin_id == bin_id)
    return db.session.scalar(query)


# create ---------------------------------------------------------------------------------


def test_a_new_bin_gets_a_random_144_bit_url_safe_id():
    created = create()
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", created.id)
    assert created.id != create().id


def test_a_random_id_never_begins_with_a_dash(monkeypatch):
    # a command line would read "-8Fz..." as an option (receiver scenario -8Fz... failed in CI)
    drawn = iter(["-8FzdashFirstxxxxxxxxxxx", "_8FzfineAfterxxxxxxxxxxx"])
    monkeypatch.setattr(bins.secrets, "token_urlsafe", lambda size: next(drawn))
    assert bins.new_bin_id() == "_8FzfineAfterxxxxxxxxxxx"


def test_a_new_bin_expires_ttl_days_after_creation():
    created = create(label="hooks")
    assert created.created_at == T0
    assert created.expires_at == T0 + timedelta(days=TTL)
    assert created.label == "hooks"
    assert created.private is False
    assert created.response_status == 200
    assert created.response_headers == []
    assert created.response_body is None


def test_a_created_bin_is_stored_as_given():
    created = create(bin_id="stored-bin", private=True, provider="qovery", event="X")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Bin, "stored-bin")
    assert stored.created_at == T0
    assert stored.expires_at == created.expires_at
    assert (stored.private, stored.provider, stored.event) == (True, "qovery", "X")


@pytest.mark.parametrize("bin_id", ["abc", "a-b-c", "123", "a" * 64, "---"])
def test_readable_ids_follow_the_rule(bin_id):
    assert create(bin_id=bin_id).id == bin_id


@pytest.mark.parametrize("bin_id", ["ab", "a" * 65, "ABC", "a_b", "a b", "a.b", "ünï", "a\n", ""])
def test_ids_outside_the_rule_are_refused(bin_id):
    with pytest.raises(bins.BinError) as raised:
        create(bin_id=bin_id)
    assert raised.value.code == "invalid_id"
    assert raised.value.field == "id"


def test_a_taken_id_is_refused():
    create(bin_id="taken")
    with pytest.raises(bins.BinError) as raised:
        create(bin_id="taken")
    assert raised.value.code == "id_taken"
    assert "taken" in raised.value.message


def test_an_overlong_label_is_refused():
    with pytest.raises(bins.BinError) as raised:
        create(label="x" * 201)
    assert raised.value.code == "invalid_label"
    assert create(label="x" * 200).label == "x" * 200


# expiry ---------------------------------------------------------------------------------


def test_an_active_bin_is_found_until_it_expires():
    created = create(bin_id="lives")
    expires = created.expires_at
    assert bins.get_active_bin(db.session, "lives", T0) is created
    assert bins.get_active_bin(db.session, "lives", expires - timedelta(microseconds=1))
    assert bins.get_active_bin(db.session, "lives", expires) is None
    assert bins.get_active_bin(db.session, "lives", expires + timedelta(days=1)) is None


def test_an_unknown_bin_is_not_found():
    assert bins.get_active_bin(db.session, "never", T0) is None


def test_expiry_is_the_last_activity_plus_the_ttl():
    assert bins.expiry(T0, 7) == T0 + timedelta(days=7)
    assert bins.expiry(T0, 1) == datetime(2025, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)


def test_prune_removes_expired_bins_and_their_requests():
    expired = create(bin_id="expired", now=T0 - timedelta(days=TTL + 1))
    at_boundary = create(bin_id="boundary", now=T0 - timedelta(days=TTL))
    live = create(bin_id="live", now=T0 - timedelta(days=TTL - 1))
    for found in (expired, at_boundary, live):
        one_byte_captures(found, 2)
    assert retention.prune_expired(db.session, T0) == 2
    db.session.commit()
    assert db.session.scalars(select(Bin.id)).all() == ["live"]
    assert count_requests() == 2
    assert count_requests("live") == 2


def test_prune_with_nothing_expired_removes_nothing():
    create(bin_id="live")
    assert retention.prune_expired(db.session, T0) == 0
    assert db.session.get(Bin, "live") is not None


# requests -------------------------------------------------------------------------------


def test_clear_requests_deletes_only_that_bins_requests():
    mine, other = create(bin_id="mine"), create(bin_id="other")
    one_byte_captures(mine, 3)
    one_byte_captures(other, 1)
    assert (mine.request_count, mine.stored_bytes) == (3, 3)
    assert retention.clear_requests(db.session, "mine") == 3
    db.session.expire_all()
    assert count_requests("mine") == 0
    assert count_requests("other") == 1
    assert (mine.request_count, mine.stored_bytes) == (0, 0)


def test_delete_request_only_within_its_bin():
    create(bin_id="mine")
    other = create(bin_id="other")
    (rid,) = one_byte_captures(other)
    assert retention.delete_request(db.session, "mine", rid) is False
    assert count_requests("other") == 1
    assert retention.delete_request(db.session, "other", rid) is True
    db.session.expire_all()
    assert count_requests("other") == 0
    assert (other.request_count, other.stored_bytes) == (0, 0)
    assert retention.delete_request(db.session, "other", rid) is False


# settings -------------------------------------------------------------------------------


def test_settings_change_any_subset():
    found = create()
    bins.apply_settings(
        found,
        {
            "label": "renamed",
            "private": True,
            "provider": "appery",
            "event": "PROJECT_BUILD_IOS_FAIL",
            "strict_validation": True,
            "response": {
                "status": 201,
                "headers": {"X-A": "1"},
                "body": "ok",
                "delay_ms": 500,
            },
            "signature": {"scheme": "standard-webhooks", "secret": "whsec_x"},
            "forward_url": "http://127.0.0.1:9000/hook",
        },
    )
    assert found.label == "renamed"
    assert found.private is True
    assert (found.provider, found.event) == ("appery", "PROJECT_BUILD_IOS_FAIL")
    assert found.strict_validation is True
    assert (found.response_status, found.response_body, found.response_delay_ms) == (201, "ok", 500)
    assert found.response_headers == [["X-A", "1"]]
    assert (found.signature_scheme, found.signature_secret) == ("standard-webhooks", "whsec_x")
    assert found.forward_url == "http://127.0.0.1:9000/hook"


def test_signature_changes_merge_and_null_clears():
    found = create()
    bins.apply_settings(
        found, {"signature": {"scheme": "hmac-sha256", "secret": "s", "header": "X-Sig"}}
    )
    bins.apply_settings(found, {"signature": {"secret": "new"}})
    assert (found.signature_scheme, found.signature_secret, found.signature_header) == (
        "hmac-sha256",
        "new",
        "X-Sig",
    )
    bins.apply_settings(found, {"signature": None})
    assert (found.signature_scheme, found.signature_secret, found.signature_header) == (
        None,
        None,
        None,
    )


def test_empty_values_reset_optional_settings():
    found = create(provider="appery")
    bins.apply_settings(
        found, {"provider": "", "forward_url": "https://example.com/x", "response": {"body": "b"}}
    )
    bins.apply_settings(found, {"forward_url": None, "response": {"body": None}})
    assert found.provider is None
    assert found.forward_url is None
    assert found.response_body is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "is not an http:// or https:// URL"),
        ("http://[::1", "has no ] to close its IPv6 host"),
        ("http://[zz]/x", "has a host that is not an IPv6 address: [zz]"),
        ("https://[::1]:99999/", "has a port that is not a number from 1 to 65535: '99999'"),
    ],
)
def test_a_forward_url_that_cannot_be_used_is_refused_saying_why(url, words):
    """What the document's pattern cannot say alone: the one URL rule (``url_problem``)."""
    found = create()
    with pytest.raises(bins.BinError) as raised:
        bins.apply_settings(found, {"forward_url": url})
    assert (raised.value.code, raised.value.field) == ("invalid_settings", "forward_url")
    assert raised.value.message == f"forward_url {words}"
    assert found.forward_url is None


def test_a_response_script_over_its_size_in_all_is_refused():
    found = create()
    step = {"body": "x" * (bins.SCRIPT_BYTES_MAX // 10)}
    with pytest.raises(bins.BinError) as raised:
        bins.apply_settings(found, {"response_script": [step] * 11})
    assert raised.value.field == "response_script"
    assert "KiB of JSON in all" in raised.value.message
    bins.apply_settings(found, {"response_script": [step] * 9})
    assert len(found.response_script) == 9


def test_every_signature_scheme_of_the_contract_is_accepted():
    found = create()
    for scheme in ("standard-webhooks", "hmac-sha256", "stripe", "qovery", "apitree"):
        bins.apply_settings(found, {"signature": {"scheme": scheme}})
        assert found.signature_scheme == scheme


# the answer -----------------------------------------------------------------------------
