"""Signed tokens: a bin's bearer token and the browser's recent-bins cookie."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from receiver.bins.tokens import BIN_TOKEN_SALT
from receiver.bins.tokens import RECENT_BINS_MAX
from receiver.bins.tokens import RECENT_BINS_SALT
from receiver.bins.tokens import bin_token
from receiver.bins.tokens import check_bin_token
from receiver.bins.tokens import dump_recent_bins
from receiver.bins.tokens import load_recent_bins

SECRET = "test-secret-key"


def test_bin_token_round_trip():
    token = bin_token(SECRET, "my-bin")
    assert check_bin_token(SECRET, "my-bin", token) is True


def test_a_token_for_another_bin_fails():
    assert check_bin_token(SECRET, "my-bin", bin_token(SECRET, "other-bin")) is False


def test_a_token_signed_with_another_key_fails():
    assert check_bin_token(SECRET, "my-bin", bin_token("another-key", "my-bin")) is False


@pytest.mark.parametrize("token", [None, "", "garbage", "bXktYmlu.forged"])
def test_missing_or_forged_tokens_fail(token):
    assert check_bin_token(SECRET, "my-bin", token) is False


def test_a_tampered_token_fails():
    token = bin_token(SECRET, "my-bin")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert check_bin_token(SECRET, "my-bin", tampered) is False


def test_purposes_do_not_mix():
    """A recent-bins cookie is not a bin token, and a bin token is not a cookie."""
    cookie_shaped = URLSafeSerializer(SECRET, salt=RECENT_BINS_SALT).dumps("my-bin")
    assert check_bin_token(SECRET, "my-bin", cookie_shaped) is False
    token_shaped = URLSafeSerializer(SECRET, salt=BIN_TOKEN_SALT).dumps([["my-bin", ""]])
    assert load_recent_bins(SECRET, token_shaped) == []


def test_recent_bins_round_trip_in_order():
    pairs = [("newest", "tok-1"), ("older", ""), ("oldest", "tok-3")]
    assert load_recent_bins(SECRET, dump_recent_bins(SECRET, pairs)) == pairs


def test_recent_bins_keep_at_most_the_newest_few():
    pairs = [(f"bin-{i}", "") for i in range(RECENT_BINS_MAX + 5)]
    loaded = load_recent_bins(SECRET, dump_recent_bins(SECRET, pairs))
    assert loaded == pairs[:RECENT_BINS_MAX]


@pytest.mark.parametrize("value", [None, "", "not-signed", '[["my-bin", "token"]]'])
def test_a_missing_or_unsigned_cookie_is_empty(value):
    assert load_recent_bins(SECRET, value) == []


def test_a_tampered_cookie_is_empty():
    value = dump_recent_bins(SECRET, [("my-bin", "token")])
    payload, _, signature = value.rpartition(".")
    forged_payload = dump_recent_bins("attacker-key", [("their-bin", "token")]).rpartition(".")[0]
    assert load_recent_bins(SECRET, f"{forged_payload}.{signature}") == []
    assert load_recent_bins(SECRET, f"{payload}.{signature[::-1]}") == []


def test_a_cookie_signed_with_another_key_is_empty():
    assert load_recent_bins(SECRET, dump_recent_bins("another-key", [("b", "t")])) == []


@pytest.mark.parametrize("content", [{"a": 1}, "text", [["only-one"]], [1, 2], [["a", "b", "c"]]])
def test_a_well_signed_cookie_of_the_wrong_shape_yields_nothing_usable(content):
    value = URLSafeSerializer(SECRET, salt=RECENT_BINS_SALT).dumps(content)
    assert load_recent_bins(SECRET, value) == []
