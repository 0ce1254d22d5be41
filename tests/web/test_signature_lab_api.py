"""The signature lab through a bin: several secrets per bin (rotation), the lab's details on the
captured request, and no secret ever shown."""

from __future__ import annotations

import hashlib
import hmac

BODY = b'{"action":"opened"}'


def hub(secret: str, body: bytes = BODY) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_signed(bins, bin_id: str, secret: str) -> dict:
    """Ingest BODY signed with ``secret``; the captured request's signature result."""
    answer = bins.ingest(bin_id, body=BODY, headers=[("X-Hub-Signature-256", hub(secret))])
    return bins.request(bin_id, int(answer.get_json()["request_id"]))["signature"]


def test_a_bin_with_previous_secrets_verifies_each_and_never_shows_them(client, bins):
    bin_id = bins.create()["id"]
    answer = client.patch(
        f"/api/bins/{bin_id}",
        json={
            "signature": {
                "scheme": "hmac-sha256",
                "secret": "new-secret",
                "previous_secrets": ["old-secret", "older-secret"],
            }
        },
    )
    assert answer.status_code == 200, answer.get_json()
    shown = answer.get_json()["signature"]
    assert shown == {
        "scheme": "hmac-sha256",
        "header": None,
        "secret_set": True,
        "previous_secret_count": 2,
    }

    results = {}
    for secret in ("new-secret", "older-secret", "unknown-secret"):
        results[secret] = send_signed(bins, bin_id, secret)
    assert results["new-secret"]["status"] == "verified"
    assert results["older-secret"]["status"] == "verified"
    assert "previous secret 2 (being rotated out)" in results["older-secret"]["reason"]
    failed = results["unknown-secret"]
    assert failed["status"] == "failed"
    assert failed["details"]["signed_content"] == BODY.decode()
    assert [e["key"] for e in failed["details"]["expected"]] == [
        "the bin's secret",
        "previous secret 1",
        "previous secret 2",
    ]
    assert [r["value"] for r in failed["details"]["received"]] == [hub("unknown-secret")]
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    everything = repr(failed) + page + client.get(f"/api/bins/{bin_id}").get_data(as_text=True)
    for secret in ("new-secret", "old-secret", "older-secret"):
        assert secret not in everything

    # rotation done: the previous secrets are dropped, and the old one no longer verifies
    client.patch(f"/api/bins/{bin_id}", json={"signature": {"previous_secrets": []}})
    assert send_signed(bins, bin_id, "older-secret")["status"] == "failed"


def test_too_many_previous_secrets_are_refused_in_words(client, bins):
    bin_id = bins.create()["id"]
    answer = client.patch(
        f"/api/bins/{bin_id}",
        json={"signature": {"scheme": "stripe", "secret": "s", "previous_secrets": ["x"] * 6}},
    )
    assert answer.status_code == 400
    assert (
        "signature.previous_secrets must hold at most 5 items"
        in answer.get_json()["error"]["message"]
    )
