"""``receiver simulate``: tokens, triggers and resets from a shell, on the app's database (both
backends); deliveries go to real HTTP targets on loopback."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from simulated import Tenant
from simulated import delivered_paths

from receiver.cli import simulate
from receiver.simulators.registry import SIMULATORS

ORGANIZATION = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
EVENT = "DEPLOYMENT_FAILURE"


def run(runner: Any, *args: str) -> Any:
    return runner.invoke(args=["simulate", *args])


def qovery_webhook(tenant: Tenant, url: str, **fields: Any) -> dict[str, Any]:
    body = {"kind": "STANDARD", "target_url": url, "events": [EVENT], **fields}
    return tenant.ok("POST", f"/organization/{tenant.id}/webhook", body, status=201)


def test_a_token_from_the_shell_opens_the_mock_api(runner: Any, client: Any) -> None:
    result = run(runner, "qovery", "--issue-token", "--organization-id", ORGANIZATION.upper())
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    assert issued["organization"] == ORGANIZATION and issued["token"].startswith("rsim_")
    listed = client.get(
        f"/mock/qovery/organization/{ORGANIZATION}/webhook",
        headers={"Authorization": f"Bearer {issued['token']}"},
    )
    assert listed.status_code == 200
    new = json.loads(run(runner, "akinon", "--issue-token").output)
    assert len(new["organization"]) == 24
    reader = run(
        runner, "apitree", "--issue-token", "--user-id", "10123", "--scope", "webhook.readonly"
    )
    assert json.loads(reader.output)["scopes"] == ["webhook.readonly"]


def test_a_trigger_from_the_shell_delivers_and_prints_each_delivery(
    runner: Any, client: Any, target: Any
) -> None:
    target.expect_request("/shop").respond_with_data("ok")
    target.expect_request("/billing").respond_with_data("ok")
    org = Tenant(client, "qovery", organization=ORGANIZATION)
    shop = qovery_webhook(org, target.url_for("/shop"), project_names_filter=["shop*"])
    qovery_webhook(org, target.url_for("/billing"), project_names_filter=["billing"])

    result = run(
        runner,
        "qovery",
        EVENT,
        "--organization-id",
        ORGANIZATION,
        "--project-name",
        "Shop-API",
        "--set",
        "/payload/project/name=Shop-API",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"webhook {shop['id']} {target.url_for('/shop')} -> 200 (")
    assert lines[-1] == f"{EVENT}: 1 webhook(s) matched"
    assert delivered_paths(target) == ["/shop"]
    assert json.loads(target.log[0][0].get_data())["payload"]["project"]["name"] == "Shop-API"
    [recorded] = org.ok("GET", "/deliveries")["deliveries"]
    assert recorded["webhook_id"] == shop["id"] and recorded["status_code"] == 200


def test_a_failed_delivery_is_exit_status_1(runner: Any, client: Any, target: Any) -> None:
    target.expect_request("/down").respond_with_data("no", status=500)
    org = Tenant(client, "qovery", organization=ORGANIZATION)
    qovery_webhook(org, target.url_for("/down"))
    qovery_webhook(org, "http://127.0.0.1:9/refused")
    result = run(runner, "qovery", EVENT, "--organization-id", ORGANIZATION)
    assert result.exit_code == 1, result.output
    assert "-> 500 (" in result.output and "connection refused" in result.output
    assert "2 webhook(s) matched" in result.output


def test_nothing_matching_is_not_a_failure(runner: Any) -> None:
    result = run(runner, "qovery", EVENT, "--organization-id", ORGANIZATION)
    assert result.exit_code == 0 and result.output == f"{EVENT}: 0 webhook(s) matched\n"


def test_a_reset_from_the_shell(runner: Any, client: Any) -> None:
    org = Tenant(client, "qovery", organization=ORGANIZATION)
    qovery_webhook(org, "http://127.0.0.1:9/x")
    result = run(runner, "qovery", "--reset", "--organization-id", ORGANIZATION)
    assert result.exit_code == 0 and "reset organization" in result.output
    assert org.ok("GET", f"/organization/{ORGANIZATION}/webhook") == {"results": []}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("github", "push"), "no simulated provider 'github'"),
        (("qovery",), "give an EVENT, or --issue-token, or --reset"),
        (("qovery", EVENT, "--issue-token"), "give an EVENT, or --issue-token, or --reset"),
        (("qovery", "DEPLOYMENT_DONE", "--organization-id", ORGANIZATION), "/event"),
        (("qovery", EVENT), "organization_id (--organization-id) is required"),
        (("qovery", EVENT, "--organization-id", ORGANIZATION, "--api-id", "x"), "--api-id"),
        (("qovery", EVENT, "--organization-id", ORGANIZATION, "--set", "nothing"), "PATH=VALUE"),
        (("akinon", "--issue-token", "--organization-id", "nope"), "/organization"),
        (("apitree", "--issue-token", "--project-id", "p"), "--project-id"),
        (("apitree", "--issue-token", "--scope", "admin"), "/scopes/0"),
        (("qovery", "--reset"), "--reset needs --organization-id"),
        (("apitree", "release.released"), "give api_id (--api-id), user_id (--user-id)"),
    ],
)
def test_usage_errors_are_exit_status_2_and_send_nothing(
    runner: Any, args: tuple[str, ...], words: str
) -> None:
    result = run(runner, *args)
    assert result.exit_code == 2, result.output
    assert words in result.output


def test_the_options_are_every_simulators_attributes() -> None:
    attributes = {a.name for simulator in SIMULATORS.values() for a in simulator.attributes}
    assert set(simulate.ATTRIBUTE_OPTIONS) == attributes
    options = {param.name for param in simulate.simulate_command.params if param.name in attributes}
    assert options == attributes


def test_the_command_module_imports_no_app_and_no_database() -> None:
    """Commands load lazily: the simulators, SQLAlchemy and the app come inside the command."""
    tree = ast.parse(Path(simulate.__file__).read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert names <= {"__future__", "json", "typing", "click", "receiver.cli.context"}
