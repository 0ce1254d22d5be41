"""The plugin as an installed package delivers it: a separate pytest run in a separate project.

The package counts as installed when a ``receiver`` distribution with the ``pytest11`` entry points
declared in pyproject.toml is on the path, which is what ``pip install`` leaves behind; so these
runs load the plugin exactly as a user's project would, with nothing in its conftest or options.
The inner runs are subprocesses (not pytester in this process): the plugin, the receiver server
and the warnings filter all start from scratch there, as they would in the user's CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

PROJECT = Path(__file__).resolve().parents[2]
PLUGIN = "receiver.pytest_plugin"

USER_TESTS = """
    import pytest
    from receiver.pytest_plugin import send_event


    def test_a_documented_event_passes(webhook_bin):
        send_event("appery", "PROJECT_BUILD_IOS_FAIL", to=webhook_bin)
        webhook_bin.wait_for(count=1, event="PROJECT_BUILD_IOS_FAIL")
        webhook_bin.assert_all_valid()


    def test_an_undocumented_payload_fails(webhook_bin):
        send_event(
            "appery",
            "PROJECT_BUILD_IOS_FAIL",
            to=webhook_bin.url,
            overrides={"/build/finished_at": "yesterday", "/project/owner/email": "nobody"},
        )
        webhook_bin.wait_for(count=1)
        webhook_bin.assert_all_valid()
"""


def declared_entry_points() -> dict[str, str]:
    """The ``pytest11`` entry points pyproject.toml declares."""
    document = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    return document["project"]["entry-points"]["pytest11"]


def environment(site: Path | None) -> dict[str, str]:
    """This environment minus the outer run's pytest variables, with ``site`` on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (site, PROJECT) if p is not None)
    return env


@pytest.fixture
def installed_site(tmp_path: Path) -> Path:
    """A directory that makes the package look installed: its dist-info with the entry points."""
    site = tmp_path / "site"
    dist = site / "receiver-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: receiver\nVersion: 0.1.0\n")
    lines = [f"{name} = {target}" for name, target in declared_entry_points().items()]
    (dist / "entry_points.txt").write_text("[pytest11]\n" + "\n".join(lines) + "\n")
    return site


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A user's project: strict warnings, one test file, no conftest."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    (project / "test_hooks.py").write_text(textwrap.dedent(USER_TESTS))
    return project


def run_pytest(project: Path, site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=project,
        env=environment(site),
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_pass_one_failure_naming_the_paths(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    assert "test_an_undocumented_payload_fails - AssertionError" in output, output
    assert "1 of 1 requests in bin" in output, output
    assert '/build/finished_at: "yesterday" is not a valid date-time [format]' in output, output
    assert "/project/owner/email:" in output, output
    assert "appery PROJECT_BUILD_IOS_FAIL): invalid" in output, output


def test_the_entry_point_names_the_plugin_module():
    assert PLUGIN in declared_entry_points().values()


def test_installing_the_package_is_all_a_project_needs(user_project, installed_site):
    result = run_pytest(user_project, installed_site)

    assert_one_pass_one_failure_naming_the_paths(result)


def test_without_installing_the_plugin_loads_with_dash_p(user_project):
    result = run_pytest(user_project, None, "-p", PLUGIN)

    assert_one_pass_one_failure_naming_the_paths(result)


def test_listing_the_plugin_as_well_as_installing_it_is_harmless(user_project, installed_site):
    (user_project / "conftest.py").write_text(f"pytest_plugins = [{PLUGIN!r}]\n")

    result = run_pytest(user_project, installed_site)

    assert_one_pass_one_failure_naming_the_paths(result)
