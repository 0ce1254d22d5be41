"""``flask send`` and ``flask forward-worker``: real HTTP to a real target (pytest-httpserver).

Each test runs on both databases (the catalog merges user schemas stored in the database, and the
forwarding queue is a table).
"""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path

import pytest
from servers import RECEIVER
from servers import WAIT_SECONDS
from servers import Process
from servers import clean_env
from servers import free_port
from servers import wait_until
from werkzeug import Response

from receiver.catalog.model import load_catalog
from receiver.signatures.registry import verify_signature
from receiver.storage.models import utcnow

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LINE = re.compile(r"^(?P<label>.+) -> (?P<status>\d{3}) \((?P<ms>\d+) ms\)$")


def example(provider: str, event: str) -> dict:
    return load_catalog().get(provider, event).example


def received(httpserver) -> list:
    """The requests the target got, in order."""
    return [request for request, _ in httpserver.log]


def result_lines(output: str) -> list[re.Match]:
    return [match for line in output.splitlines() if (match := LINE.match(line))]


# --- catalog events ------------------------------------------------------------------------------


def test_send_posts_the_catalog_example_and_prints_the_answer(runner, httpserver):
    httpserver.expect_request("/hooks", method="POST").respond_with_json({"ok": True})

    result = runner.invoke(
        args=["send", "appery", "PROJECT_BUILD_IOS_FAIL", "--to", httpserver.url_for("/hooks")]
    )

    assert result.exit_code == 0, result.output
    [line] = result_lines(result.output)
    assert line["label"] == "appery PROJECT_BUILD_IOS_FAIL"
    assert line["status"] == "200"
    [request] = received(httpserver)
    assert json.loads(request.get_data()) == example("appery", "PROJECT_BUILD_IOS_FAIL")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Receiver-Sample"] == "appery/PROJECT_BUILD_IOS_FAIL"
    assert "webhook-signature" not in request.headers
    assert "X-Hub-Signature-256" not in request.headers


@pytest.mark.parametrize("scheme", ["standard", "standard-webhooks"])
def test_a_standard_webhooks_signature_verifies_at_the_target(runner, httpserver, scheme):
    httpserver.expect_request("/hooks").respond_with_data("")
    args = ["send", "qovery", "DEPLOYMENT_STARTED", "--to", httpserver.url_for("/hooks")]

    result = runner.invoke(args=[*args, "--secret", STANDARD_SECRET, "--scheme", scheme])

    assert result.exit_code == 0, result.output
    [request] = received(httpserver)
    verdict = verify_signature(
        scheme="standard-webhooks",
        secret=STANDARD_SECRET,
        headers=list(request.headers.items()),
        body=request.get_data(),
        now=utcnow(),
    )
    assert verdict.status == "verified", verdict.reason


@pytest.mark.parametrize(("header", "sent_in"), [(None, "X-Hub-Signature-256"), ("X-Sig", "X-Sig")])
def test_an_hmac_signature_verifies_at_the_target(runner, httpserver, header, sent_in):
    httpserver.expect_request("/hooks").respond_with_data("")
    args = ["send", "appery", "PROJECT_BUILD_IOS_FAIL", "--to", httpserver.url_for("/hooks")]
    args += ["--secret", "s3cret", "--scheme", "hmac"] + (["--header", header] if header else [])

    result = runner.invoke(args=args)

    assert result.exit_code == 0, result.output
    [request] = received(httpserver)
    assert request.headers[sent_in].startswith("sha256=")
    verdict = verify_signature(
        scheme="hmac-sha256",
        secret="s3cret",
        headers=list(request.headers.items()),
        body=request.get_data(),
        now=utcnow(),
        header=header,
    )
    assert verdict.status == "verified", verdict.reason


def test_without_a_scheme_the_providers_documented_one_is_used(runner, httpserver):
    httpserver.expect_request("/hooks").respond_with_data("")
    url = httpserver.url_for("/hooks")

    qovery = runner.invoke(
        args=["send", "qovery", "DEPLOYMENT_FAILURE", "--to", url, "--secret", "t0k"]
    )
    appery = runner.invoke(
        args=["send", "appery", "PROJECT_PREVIEW_TEST", "--to", url, "--secret", STANDARD_SECRET]
    )

    assert qovery.exit_code == 0 and appery.exit_code == 0, qovery.output + appery.output
    to_qovery, to_appery = received(httpserver)
    assert to_qovery.headers["Qovery-Signature"] == "t0k"  # Qovery sends the secret itself
    assert "webhook-signature" in to_appery.headers  # Appery documents none: Standard Webhooks


def test_set_changes_fields_of_the_example(runner, httpserver):
    httpserver.expect_request("/hooks").respond_with_data("")
    args = ["send", "appery", "PROJECT_BUILD_IOS_FAIL", "--to", httpserver.url_for("/hooks")]
    args += ["--set", "build.status=success", "--set", '/project/name="42"']
    args += ["--set", "/project/tags=[1, 2]", "--set", "build.file_url=https://x.test/app.ipa"]
    args += ["--set", "project.owner.name=Ada Lovelace", "--set", "build.extra={}"]

    result = runner.invoke(args=args)

    assert result.exit_code == 0, result.output
    [request] = received(httpserver)
    body = json.loads(request.get_data())
    assert body["build"]["status"] == "success"
    assert body["project"]["name"] == "42"
    assert body["project"]["tags"] == [1, 2]
    assert body["build"]["file_url"] == "https://x.test/app.ipa"
    assert body["project"]["owner"]["name"] == "Ada Lovelace"
    assert body["build"]["extra"] == {}
    assert body["build"]["platform"] == "ios"  # the rest is the example


def test_all_sends_every_event_of_the_provider(runner, httpserver):
    httpserver.expect_request("/hooks").respond_with_data("")
    events = [e.id for e in load_catalog().provider("qovery").events.values()]

    result = runner.invoke(args=["send", "qovery", "--all", "--to", httpserver.url_for("/hooks")])

    assert result.exit_code == 0, result.output
    assert [line["label"] for line in result_lines(result.output)] == [
        f"qovery {event}" for event in events
    ]
    sent = [request.headers["X-Receiver-Sample"] for request in received(httpserver)]
    assert sent == [f"qovery/{event}" for event in events]
    bodies = [json.loads(request.get_data()) for request in received(httpserver)]
    assert bodies == [example("qovery", event) for event in events]


def test_a_user_schema_event_can_be_sent(runner, client, httpserver):
    schema = {"type": "object", "required": ["order"], "properties": {"order": {"type": "string"}}}
    stored = client.put(
        "/api/catalog/acme/order.paid", json={"schema": schema, "example": {"order": "A-1"}}
    )
    assert stored.status_code == 201, stored.get_json()
    httpserver.expect_request("/hooks").respond_with_data("")

    result = runner.invoke(
        args=["send", "acme", "order.paid", "--to", httpserver.url_for("/hooks")]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(received(httpserver)[0].get_data()) == {"order": "A-1"}


# --- recordings ----------------------------------------------------------------------------------


def save_recording(client, bins, tmp_path: Path, **ingest) -> tuple[Path, dict]:
    """Capture a request, download it as a recording file; returns the file and the capture."""
    bin_id = bins.create()["id"]
    answer = bins.ingest(bin_id, **ingest)
    assert answer.status_code == 200
    request_id = answer.get_json()["request_id"]
    document = client.get(f"/api/bins/{bin_id}/requests/{request_id}/recording?name=saved")
    assert document.status_code == 200
    path = tmp_path / "saved.json"
    path.write_bytes(document.get_data())
    return path, bins.request(bin_id, request_id)


def test_a_fixture_is_sent_byte_for_byte(runner, client, bins, httpserver, tmp_path):
    body = b"\x00\xff not json, not utf-8 \xfe\r\n"
    headers = [("Content-Type", "application/x-thing"), ("X-Trace", "abc"), ("X-Empty", "")]
    fixture, _ = save_recording(
        client, bins, tmp_path, method="PUT", path="/sub", query="a=1", body=body, headers=headers
    )
    httpserver.expect_request("/target", method="PUT").respond_with_data("thanks")

    result = runner.invoke(
        args=["send", "--fixture", str(fixture), "--to", httpserver.url_for("/target")]
    )

    assert result.exit_code == 0, result.output
    [line] = result_lines(result.output)
    assert line["label"] == str(fixture)
    assert line["status"] == "200"
    [request] = received(httpserver)
    assert request.method == "PUT"
    assert request.get_data() == body
    assert request.headers["Content-Type"] == "application/x-thing"
    assert request.headers["X-Trace"] == "abc"
    assert request.query_string == b""  # the target URL is used as given


def test_fixtures_are_repeatable_and_name_their_event(runner, client, bins, httpserver, tmp_path):
    payload = json.dumps(example("appery", "PROJECT_BUILD_IOS_FAIL")).encode()
    fixture, _ = save_recording(
        client, bins, tmp_path, body=payload, headers=[("Content-Type", "application/json")]
    )
    httpserver.expect_request("/target").respond_with_data("")
    args = ["send", "--fixture", str(fixture), "--fixture", str(fixture)]

    result = runner.invoke(args=[*args, "--to", httpserver.url_for("/target")])

    assert result.exit_code == 0, result.output
    labels = [line["label"] for line in result_lines(result.output)]
    assert labels == [f"{fixture} (appery PROJECT_BUILD_IOS_FAIL)"] * 2
    assert [r.get_data() for r in received(httpserver)] == [payload, payload]


def test_a_fixture_is_re_signed_when_a_secret_is_given(runner, client, bins, httpserver, tmp_path):
    stale = [("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=" + "0" * 64)]
    fixture, _ = save_recording(client, bins, tmp_path, body=b'{"a": 1}', headers=stale)
    httpserver.expect_request("/target").respond_with_data("")
    args = ["send", "--fixture", str(fixture), "--to", httpserver.url_for("/target")]

    result = runner.invoke(args=[*args, "--secret", "fresh", "--scheme", "hmac-sha256"])

    assert result.exit_code == 0, result.output
    [request] = received(httpserver)
    assert request.headers.getlist("X-Hub-Signature-256") != ["sha256=" + "0" * 64]
    verdict = verify_signature(
        scheme="hmac-sha256",
        secret="fresh",
        headers=list(request.headers.items()),
        body=request.get_data(),
        now=utcnow(),
    )
    assert verdict.status == "verified", verdict.reason


# --- failures and usage errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "X"], "unknown provider 'nope'"),
        (["appery", "NOPE"], "no event 'NOPE' for provider 'appery'"),
        (["appery"], "give an EVENT of 'appery', or --all"),
        (["appery", "PROJECT_BUILD_IOS_FAIL", "--all"], "give EVENT or --all, not both"),
        ([], "give PROVIDER EVENT, PROVIDER --all, or --fixture FILE"),
        (["appery", "PROJECT_BUILD_IOS_FAIL", "--scheme", "hmac"], "--scheme needs --secret"),
        (["appery", "PROJECT_BUILD_IOS_FAIL", "--set", "nothing"], "is not PATH=VALUE"),
        (["appery", "PROJECT_BUILD_IOS_FAIL", "--set", "=1"], "is not PATH=VALUE"),
        (["appery", "PROJECT_BUILD_IOS_FAIL", "--set", "build.status.x=1"], "cannot descend"),
        (["qovery", "DEPLOYMENT_STARTED", "--set", "payload.logs.x=1"], "not an index"),
    ],
)
def test_usage_errors_exit_2_and_send_nothing(runner, httpserver, args, message):
    result = runner.invoke(args=["send", *args, "--to", httpserver.url_for("/hooks")])

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert received(httpserver) == []


def test_a_target_url_that_cannot_be_used_is_a_usage_error(runner):
    result = runner.invoke(args=["send", "appery", "PROJECT_BUILD_IOS_FAIL", "--to", "ftp://x"])

    assert result.exit_code == 2
    assert "Invalid value for --to" in result.output


@pytest.mark.parametrize("content", [None, b"not json", b'{"receiver_recording": 99}'])
def test_an_unreadable_fixture_is_a_usage_error(runner, httpserver, tmp_path, content):
    fixture = tmp_path / "fixture.json"
    if content is not None:
        fixture.write_bytes(content)

    result = runner.invoke(
        args=["send", "--fixture", str(fixture), "--to", httpserver.url_for("/")]
    )

    assert result.exit_code == 2
    assert "Invalid value for --fixture" in result.output
    assert received(httpserver) == []


def test_a_fixture_takes_no_catalog_event_and_no_set(runner, client, bins, tmp_path):
    fixture, _ = save_recording(client, bins, tmp_path, body=b"{}")
    base = ["send", "--fixture", str(fixture), "--to", "http://127.0.0.1:9/"]

    with_event = runner.invoke(args=[*base, "appery", "PROJECT_BUILD_IOS_FAIL"])
    with_set = runner.invoke(args=[*base, "--set", "a=1"])

    assert with_event.exit_code == 2 and "not both" in with_event.output
    assert with_set.exit_code == 2 and "byte for byte" in with_set.output


def test_a_refused_target_exits_1_with_the_reason(runner):
    port = free_port()

    result = runner.invoke(
        args=["send", "appery", "PROJECT_BUILD_IOS_FAIL", "--to", f"http://127.0.0.1:{port}/"]
    )

    assert result.exit_code == 1
    assert f"appery PROJECT_BUILD_IOS_FAIL -> error: connection refused by 127.0.0.1:{port}" in (
        result.output
    )
    assert "1 of 1 sends failed" in result.output


def test_an_error_status_exits_1_after_sending_everything(runner, httpserver):
    events = [e.id for e in load_catalog().provider("qovery").events.values()]
    httpserver.expect_request("/hooks").respond_with_data("nope", status=500)

    result = runner.invoke(args=["send", "qovery", "--all", "--to", httpserver.url_for("/hooks")])

    assert result.exit_code == 1
    assert [line["status"] for line in result_lines(result.output)] == ["500"] * len(events)
    assert f"{len(events)} of {len(events)} sends failed" in result.output


def test_verbose_prints_the_start_of_each_answer(runner, httpserver):
    httpserver.expect_request("/short").respond_with_data('{"ok": true}')
    httpserver.expect_request("/long").respond_with_data("x" * 600)
    base = ["send", "appery", "PROJECT_BUILD_IOS_FAIL", "-v", "--to"]

    short = runner.invoke(args=[*base, httpserver.url_for("/short")])
    long = runner.invoke(args=[*base, httpserver.url_for("/long")])
    quiet = runner.invoke(args=base[:-2] + ["--to", httpserver.url_for("/short")])

    assert '    {"ok": true}\n' in short.output
    assert "x" * 500 + " …" in long.output
    assert "x" * 501 not in long.output
    assert '{"ok": true}' not in quiet.output


def test_timeout_bounds_the_wait_for_an_answer(runner, httpserver):
    release = threading.Event()

    def slow(request):
        release.wait(WAIT_SECONDS)  # answers only once the command has given up on it
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    args = ["send", "appery", "PROJECT_BUILD_IOS_FAIL", "--to", httpserver.url_for("/slow")]

    result = runner.invoke(args=[*args, "--timeout", "0.3"])
    release.set()
    wait_until(lambda: len(httpserver.log) == 1)  # the late answer is logged before the next test

    assert result.exit_code == 1
    assert "timed out after 0.3 s" in result.output


# --- flask forward-worker ------------------------------------------------------------------------


def bin_forwarding_to(client, bins, url: str) -> str:
    bin_id = bins.create()["id"]
    patched = client.patch(f"/api/bins/{bin_id}", json={"forward_url": url})
    assert patched.status_code == 200, patched.get_json()
    return bin_id


def test_forward_worker_once_delivers_what_is_queued(runner, client, bins, httpserver):
    httpserver.expect_request("/fwd/sub", method="POST").respond_with_data("got it")
    bin_id = bin_forwarding_to(client, bins, httpserver.url_for("/fwd"))
    bins.ingest(
        bin_id, path="/sub", body=b'{"n": 1}', headers=[("Content-Type", "application/json")]
    )
    bins.ingest(
        bin_id, path="/sub", body=b'{"n": 2}', headers=[("Content-Type", "application/json")]
    )

    first = runner.invoke(args=["forward-worker", "--once"])
    again = runner.invoke(args=["forward-worker", "--once"])

    assert first.exit_code == 0, first.output
    assert first.output == "forwarded: 2 attempts (2 done)\n"
    assert again.output == "forwarded: 0 attempts\n"
    assert [r.get_data() for r in received(httpserver)] == [b'{"n": 1}', b'{"n": 2}']
    forwards = client.get(f"/api/bins/{bin_id}/forwards").get_json()["forwards"]
    assert {job["status"] for job in forwards} == {"done"}


def test_forward_worker_once_reports_a_retry(runner, client, bins, httpserver):
    httpserver.expect_request("/fwd").respond_with_data("busy", status=503)
    bin_id = bin_forwarding_to(client, bins, httpserver.url_for("/fwd"))
    bins.ingest(bin_id, body=b"{}")

    result = runner.invoke(args=["forward-worker", "--once"])

    assert result.output == "forwarded: 1 attempt (1 pending)\n"
    [job] = client.get(f"/api/bins/{bin_id}/forwards").get_json()["forwards"]
    assert job["status"] == "pending"
    assert job["last_error"] == "answered 503"


@pytest.mark.system
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_forward_worker_runs_until_stopped(client, bins, httpserver, database_url, tmp_path, stop):
    httpserver.expect_request("/fwd").respond_with_data("")
    bin_id = bin_forwarding_to(client, bins, httpserver.url_for("/fwd"))
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "forward-worker-test",
        "RECEIVER_AUTO_MIGRATE": "0",
        "RECEIVER_FORWARD_WORKER": "0",
        "RECEIVER_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONUNBUFFERED": "1",
    }
    worker = Process(
        [RECEIVER, "forward-worker"],
        log=tmp_path / "forward-worker.log",
        cwd=tmp_path,
        env=clean_env(env),
    )
    try:
        bins.ingest(bin_id, body=b'{"late": true}')
        wait_until(
            lambda: received(httpserver) or not worker.running(), what="the forward to arrive"
        )
        arrived = [r.get_data() for r in received(httpserver)]
        assert arrived == [b'{"late": true}'], worker.describe()
    finally:
        returncode = worker.stop(stop, timeout=30)
    assert returncode == 0, worker.describe()
    assert worker.output().splitlines()[-2:] == [
        "forwarding queued requests; Ctrl-C to stop",
        "stopped",
    ]
