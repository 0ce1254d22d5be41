"""Detection: every catalog example is recognised; settings and headers take precedence."""

import copy
import json
from typing import Any

import pytest

from receiver.catalog.detection import Detection
from receiver.catalog.detection import detect_event
from receiver.catalog.model import Event
from receiver.catalog.model import UserSchemaSpec
from receiver.catalog.model import load_catalog
from receiver.catalog.validation import validate_payload

CATALOG = load_catalog()
EVENTS = list(CATALOG.events())
AMBIGUOUS = [
    {"PROJECT_VERSION_CREATE", "APPLICATION_VERSION_CREATE"},
    {"PROJECT_VERSION_RESTORE", "APPLICATION_VERSION_REMOVE"},
]


def event_id(event: Event) -> str:
    """Test id 'provider/EVENT'."""
    return f"{event.provider_id}/{event.id}"


def example(provider: str, event: str) -> Any:
    """A private copy of a catalog example."""
    return copy.deepcopy(CATALOG.get(provider, event).example)


@pytest.mark.parametrize("event", EVENTS, ids=event_id)
def test_every_example_is_detected_as_its_own_event(event):
    found = detect_event(CATALOG, copy.deepcopy(event.example))
    if event.provider_id == "akinon":
        # no documented body or header: only a bin's settings identify it
        assert found == Detection(None, None, [])
        return
    assert found.provider == event.provider_id
    assert event.id in found.candidates
    pair = next((p for p in AMBIGUOUS if event.id in p), None)
    if pair is None:
        assert (found.event, found.candidates) == (event.id, [event.id])
    else:
        assert found.event is None
        assert set(found.candidates) == pair


@pytest.mark.parametrize("event", EVENTS, ids=event_id)
def test_explicit_provider_and_event_win_over_the_payload(event):
    other = example("qovery", "DEPLOYMENT_STARTED")
    found = detect_event(CATALOG, other, provider=event.provider_id, event=event.id)
    assert found == Detection(event.provider_id, event.id, [event.id])


def test_ambiguous_appery_pairs_list_both_candidates_in_catalog_order():
    found = detect_event(CATALOG, example("appery", "APPLICATION_VERSION_CREATE"))
    assert found == Detection(
        "appery", None, ["PROJECT_VERSION_CREATE", "APPLICATION_VERSION_CREATE"]
    )
    found = detect_event(CATALOG, example("appery", "PROJECT_VERSION_RESTORE"))
    assert found.candidates == ["PROJECT_VERSION_RESTORE", "APPLICATION_VERSION_REMOVE"]


def test_version_payload_missing_one_actor_field_is_still_detected():
    payload = example("appery", "APPLICATION_VERSION_RENAME")
    del payload["renamed_by"]
    assert detect_event(CATALOG, payload).event == "APPLICATION_VERSION_RENAME"


@pytest.mark.parametrize(
    ("platform", "status", "expected"),
    [
        ("ios", "failed", "PROJECT_BUILD_IOS_FAIL"),
        ("ios", "started", "PROJECT_BUILD_IOS_START"),
        ("android", "aborted", "PROJECT_BUILD_ANDROID_ABORT"),
        ("android", "success", "PROJECT_BUILD_ANDROID_SUCCESS"),
    ],
)
def test_appery_build_event_comes_from_platform_and_status(platform, status, expected):
    payload = example("appery", "PROJECT_BUILD_ANDROID_FAIL")
    payload["build"].update(platform=platform, status=status)
    assert detect_event(CATALOG, payload).event == expected


@pytest.mark.parametrize("status", ["queued", None, 1])
def test_appery_build_with_an_undocumented_status_falls_back_to_its_platforms_builds(status):
    payload = example("appery", "PROJECT_BUILD_IOS_FAIL")
    payload["build"]["status"] = status
    detection = detect_event(CATALOG, payload)
    assert detection.provider == "appery" and detection.event is None
    assert detection.candidates == [
        "PROJECT_BUILD_IOS_START",
        "PROJECT_BUILD_IOS_SUCCESS",
        "PROJECT_BUILD_IOS_FAIL",
    ]


def test_no_documented_ios_abort_event_exists():
    """An iOS abort is not documented: it is checked against the iOS builds, never detected."""
    payload = example("appery", "PROJECT_BUILD_ANDROID_ABORT")
    payload["build"]["platform"] = "ios"
    detection = detect_event(CATALOG, payload)
    assert "PROJECT_BUILD_IOS_ABORT" not in detection.candidates
    assert detection.event is None


@pytest.mark.parametrize(
    ("header", "provider"),
    [
        ("X-ApiTree-Signature", "apitree"),
        ("x-apitree-signature", "apitree"),
        ("Qovery-Signature", "qovery"),
        ("QOVERY-SECRET", "qovery"),
    ],
)
def test_identifying_header_names_the_provider(header, provider):
    assert detect_event(CATALOG, {}, [(header, "x")]) == Detection(provider, None, [])


def test_header_narrows_shape_detection_to_its_provider():
    headers = [("Content-Type", "application/json"), ("Qovery-Secret", "s3cret")]
    found = detect_event(CATALOG, example("qovery", "DEPLOYMENT_FAILURE"), headers)
    assert found == Detection("qovery", "DEPLOYMENT_FAILURE", ["DEPLOYMENT_FAILURE"])
    # an Appery body behind a Qovery header is not taken for Appery
    found = detect_event(CATALOG, example("appery", "PROJECT_PREVIEW_TEST"), headers)
    assert found == Detection("qovery", None, [])


def test_explicit_provider_wins_over_headers_and_narrows():
    payload = example("apitree", "release.released")
    found = detect_event(CATALOG, payload, [("Qovery-Secret", "x")], provider="apitree")
    assert found == Detection("apitree", "release.released", ["release.released"])
    found = detect_event(CATALOG, payload, provider="appery")
    assert found == Detection("appery", None, [])


def test_explicit_event_alone_counts_when_one_provider_lists_it():
    found = detect_event(CATALOG, {}, event="PROJECT_BUILD_IOS_FAIL")
    assert found == Detection("appery", "PROJECT_BUILD_IOS_FAIL", ["PROJECT_BUILD_IOS_FAIL"])
    found = detect_event(CATALOG, example("qovery", "DEPLOYMENT_STARTED"), event="no.such")
    assert found.event == "DEPLOYMENT_STARTED"


def test_akinon_is_detected_only_from_settings():
    assert detect_event(CATALOG, {}, provider="akinon") == Detection("akinon", None, [])
    found = detect_event(CATALOG, {}, provider="akinon", event="deployment.build.created")
    assert found.candidates == ["deployment.build.created"]


def test_explicit_event_missing_from_the_catalog_is_reported_as_unlisted():
    found = detect_event(CATALOG, {}, provider="apitree", event="api.renamed")
    assert found == Detection("apitree", None, [], unlisted="api.renamed")


def test_apitree_unlisted_name_keeps_the_provider_and_names_the_event():
    payload = example("apitree", "api.created")
    payload["name"] = "api.renamed"
    found = detect_event(CATALOG, payload)
    assert (found.provider, found.event, found.candidates) == ("apitree", None, [])
    assert (found.unlisted, found.unlisted_path) == ("api.renamed", "/name")


def test_qovery_event_type_outside_the_four_is_not_an_event():
    payload = example("qovery", "DEPLOYMENT_STARTED")
    payload["event_type"] = "DEPLOYMENT_QUEUED"
    found = detect_event(CATALOG, payload)
    assert (found.provider, found.candidates, found.unlisted) == ("qovery", [], "DEPLOYMENT_QUEUED")


@pytest.mark.parametrize(
    "payload",
    [None, [], [1, 2], "PROJECT_BUILD_IOS_FAIL", 3, {}, {"foo": 1}, {"project": {}}, {"name": "x"}],
)
def test_unrecognised_payload_is_unknown(payload):
    assert detect_event(CATALOG, payload) == Detection(None, None, [])


def test_rules_in_provider_json_drive_detection(tmp_path):
    folder = tmp_path / "acme"
    folder.mkdir()
    rules = [
        {"events": ["ping"], "present": ["/v"], "equals": {"/v": 1}},
        {"events": ["pong", "ping"], "present": ["/items/0/kind"]},
    ]
    meta = {"id": "acme", "name": "Acme", "seed": "", "source": "", "signature": {}}
    meta["detection"] = {"headers": ["X-Acme"], "rules": rules}
    (folder / "provider.json").write_text(json.dumps(meta))
    for name in ("ping", "pong"):
        (folder / f"{name}.schema.json").write_text(json.dumps({"x-documented": "full"}))
        (folder / f"{name}.example.json").write_text("{}")
    catalog = load_catalog(tmp_path)
    assert detect_event(catalog, {"v": 1}).candidates == ["ping"]
    # JSON true is not the number 1, although python says True == 1
    assert detect_event(catalog, {"v": True}) == Detection(None, None, [])
    found = detect_event(catalog, {"v": 1, "items": [{"kind": "x"}]})
    assert found == Detection("acme", None, ["ping", "pong"])
    assert detect_event(catalog, {}, [("x-acme", "")]) == Detection("acme", None, [])


def test_user_schema_for_an_apitree_name_is_detected_from_the_payload():
    catalog = CATALOG.with_user_schemas(
        [UserSchemaSpec("apitree", "api.renamed", {"type": "object"})]
    )
    payload = example("apitree", "api.created")
    payload["name"] = "api.renamed"
    assert detect_event(catalog, payload) == Detection("apitree", "api.renamed", ["api.renamed"])


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("ios", ["PROJECT_BUILD_IOS_START", "PROJECT_BUILD_IOS_SUCCESS", "PROJECT_BUILD_IOS_FAIL"]),
        (
            "android",
            [
                "PROJECT_BUILD_ANDROID_START",
                "PROJECT_BUILD_ANDROID_SUCCESS",
                "PROJECT_BUILD_ANDROID_ABORT",
                "PROJECT_BUILD_ANDROID_FAIL",
            ],
        ),
    ],
)
def test_a_build_with_an_undocumented_status_is_checked_against_its_platforms_builds(
    platform, expected
):
    """A new status value makes the payload invalid against the build events, not unknown."""
    catalog = load_catalog()
    payload = copy.deepcopy(catalog.get("appery", "PROJECT_BUILD_IOS_FAIL").example)
    payload["build"]["platform"] = platform
    payload["build"]["status"] = "exploded"
    detection = detect_event(catalog, payload)
    assert detection.provider == "appery"
    assert detection.candidates == expected
    result = validate_payload(catalog, payload)
    assert result.status == "invalid"
    assert any(issue.path == "/build/status" for issue in result.errors)


def test_a_build_of_an_unknown_platform_is_checked_against_every_build_event():
    catalog = load_catalog()
    payload = copy.deepcopy(catalog.get("appery", "PROJECT_BUILD_IOS_FAIL").example)
    payload["build"]["platform"] = "windows"
    detection = detect_event(catalog, payload)
    assert len(detection.candidates) == 7
    assert validate_payload(catalog, payload).status == "invalid"
