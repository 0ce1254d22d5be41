"""receiver as a user gets it: the wheel built from this repository, installed into a fresh
virtualenv outside it, with its dependencies from PyPI.

Nothing here sees the source tree: every command runs in a temporary folder, with no PYTHONPATH
and no pytest or receiver settings in its environment. The virtualenv is built once per test
session and shared by the tests below (under pytest-xdist the first worker to need it builds
it, while another waits for it). pip's cache is kept, so a rerun downloads little.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from htmltree import parse
from servers import PROJECT_ROOT
from servers import clean_env
from servers import run
from servers import serve_receiver

pytestmark = pytest.mark.system

EVENT_PAGE = "/catalog/appery/PROJECT_BUILD_IOS_FAIL"
PIP_OPTIONS = ["--disable-pip-version-check", "--no-input"]

# commands in the new virtualenv may write bytecode (this machine may set PYTHONDONTWRITEBYTECODE;
# empty means unset): the first process to import a module compiles it, the servers and pytest
# after it reuse that instead of each compiling Flask, SQLAlchemy and the rest again
WRITE_BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}


def venv_env() -> dict[str, str]:
    """The environment of a command run in the new virtualenv."""
    return clean_env(WRITE_BYTECODE)


@dataclass(frozen=True)
class Installed:
    """A fresh virtualenv with the built wheel and pytest installed into it."""

    venv: Path
    wheel: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (shared by the xdist workers of one session)."""
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def session_root(factory: pytest.TempPathFactory) -> Path:
    """A temporary folder all xdist workers of this session share (outside the repository)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_and_install(root: Path) -> Installed:
    """Build the wheel, create the virtualenv, install the wheel and pytest into it."""
    wheels = root / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", PROJECT_ROOT, "--no-deps", "-w", wheels]
    run([*build, *PIP_OPTIONS], cwd=root, timeout=300)
    built = sorted(wheels.glob("*.whl"))
    assert len(built) == 1, f"expected exactly one wheel, found {[w.name for w in built]}"
    [wheel] = built
    assert wheel.name.startswith("receiver-")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=root, timeout=120)
    # this run's own pytest version for the user project; no bytecode compiled ahead (5 s less:
    # the modules these tests import are compiled once, when first imported: WRITE_BYTECODE)
    pip = [venv / "bin" / "pip", "install", "--no-compile"]
    run([*pip, wheel, f"pytest=={pytest.__version__}", *PIP_OPTIONS], cwd=root, timeout=300)
    return Installed(venv, wheel)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The virtualenv with receiver installed from its wheel, built once per test session."""
    root = session_root(tmp_path_factory) / "receiver-package"
    root.mkdir(exist_ok=True)
    ready = root / "installed.json"
    with exclusive(root / "build.lock"):
        if not ready.exists():
            made = build_and_install(root)
            ready.write_text(json.dumps({"venv": str(made.venv), "wheel": str(made.wheel)}))
    found = json.loads(ready.read_text())
    return Installed(Path(found["venv"]), Path(found["wheel"]))


def referenced_assets(html: str) -> set[str]:
    """The same-origin paths of a page's ``<script src>`` and ``<link href>``."""
    tree = parse(html)
    found = {node.attrs.get("src") for node in tree.find_all("script")}
    found |= {node.attrs.get("href") for node in tree.find_all("link")}
    return {path for path in found if path and path.startswith("/") and not path.startswith("//")}


def test_the_installed_receiver_serves_pages_static_files_the_api_and_ingest(
    installed: Installed, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    server = serve_receiver(
        tmp_path / "serve.log",
        workers=2,
        receiver=installed.bin / "receiver",
        instance_path=instance,
        cwd=tmp_path,
        # the secret key is generated into the instance folder, as on a first install
        env={**WRITE_BYTECODE, "SECRET_KEY": ""},
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            assets: set[str] = set()
            for page in ("/", "/catalog/", EVENT_PAGE):
                answer = http.get(page)
                assert answer.status_code == 200, (page, answer.text[:2000])
                assert answer.headers["content-type"].startswith("text/html")
                assets |= referenced_assets(answer.text)
                if page == "/catalog/":
                    assert f'href="{EVENT_PAGE}"' in answer.text
            files = {urlsplit(path).path for path in assets}
            assert any(path.endswith(".js") for path in files), assets
            assert any(path.endswith(".css") for path in files), assets
            for path in sorted(assets):
                answer = http.get(path)
                assert answer.status_code == 200, path
                assert answer.content, path
                # each carries its version: the installed files are served as cacheable
                assert answer.headers["Cache-Control"].endswith("immutable"), path

            spec = http.get("/api/openapi.json")
            assert spec.status_code == 200
            assert spec.json()["openapi"].startswith("3.1")
            assert "PROJECT_BUILD_IOS_FAIL" in json.dumps(spec.json()["webhooks"])

            created = http.post("/api/bins", json={"label": "installed"})
            assert created.status_code == 201, created.text
            bin_id = created.json()["id"]
            body = b'{"build": {"status": "failed"}}'
            ingest = http.post(
                f"/b/{bin_id}/hooks", content=body, headers={"Content-Type": "application/json"}
            )
            assert ingest.status_code == 200, ingest.text
            assert ingest.json()["ok"] is True
            request_id = ingest.json()["request_id"]
            stored = http.get(f"/api/bins/{bin_id}/requests/{request_id}").json()
            assert (stored["method"], stored["path"]) == ("POST", "/hooks")
            assert stored["body_text"] == body.decode()
    finally:
        returncode = server.stop(signal.SIGTERM)
    assert returncode == 0, f"no clean exit on SIGTERM:\n{server.describe()}"
    assert "Traceback" not in server.output(), server.describe()
    assert (instance / "receiver.db").is_file()
    assert (instance / "secret_key").is_file()


def test_the_wheel_ships_what_runs_and_depends_only_on_what_the_product_imports(
    installed: Installed,
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = next(
            wheel.read(name).decode() for name in names if name.endswith(".dist-info/METADATA")
        )
    migrations = "receiver/storage/migrations/"
    assert {f"{migrations}env.py", f"{migrations}alembic.ini"} <= names
    assert any(name.startswith(f"{migrations}versions/") for name in names)
    assert f"{migrations}README" not in names  # Flask-Migrate's boilerplate
    runtime = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    # the tests' reference libraries and tools are not the product's dependencies
    assert not [line for line in runtime if line.startswith(("standardwebhooks", "pyinstrument"))]
    assert any(line.startswith("gunicorn") for line in runtime)


def test_the_installed_receiver_finds_its_data_inside_site_packages(
    installed: Installed, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import json, sysconfig
        import receiver, receiver.resources as r
        names = ("templates", "static", "catalog")
        print(json.dumps({
            "site_packages": sysconfig.get_paths()["purelib"],
            "package": receiver.__file__,
            "folders": {name: str(r.resource_dir(name)) for name in names},
        }))
        """
    )
    result = run([installed.bin / "python", "-c", script], cwd=tmp_path, env=venv_env())
    found = json.loads(result.stdout)
    site_packages = Path(found["site_packages"]).resolve()
    assert site_packages.is_relative_to(installed.venv.resolve())
    assert Path(found["package"]).resolve().is_relative_to(site_packages)
    for name, folder in found["folders"].items():
        assert Path(folder).resolve().is_relative_to(site_packages / "receiver" / "_data"), name
        assert any(Path(folder).iterdir()), name
    assert found["folders"]["templates"] == str(site_packages / "receiver" / "_data" / "templates")


USER_TESTS = '''
"""A user's project: tests for a build service that announces failed builds by webhook."""

import json
import urllib.request

from receiver.testing import send_event


def announce_failed_build(webhook_url, finished_at):
    """The user's code under test: POST an Appery-style "iOS build failed" event."""
    owner = {"name": "Ada", "email": "ada@example.com"}
    payload = {
        "project": {
            "guid": "372f4a93-e8ce-46ac-a111-44b6c3f476f4",
            "name": "shop",
            "description": "",
            "created_at": "2026-01-02T03:04:05Z",
            "edited_at": "2026-01-02T03:04:05Z",
            "owner": owner,
        },
        "build": {
            "started_at": "2026-01-02T03:04:05Z",
            "finished_at": finished_at,
            "status": "failed",
            "platform": "ios",
            "file_url": None,
            "initiator": owner,
        },
    }
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status


def test_documented_deliveries_pass(webhook_bin):
    assert announce_failed_build(webhook_bin.url, "2026-01-02T03:09:00Z") == 200
    answer = send_event("appery", "PROJECT_BUILD_IOS_FAIL", to=webhook_bin.url)
    assert answer.status_code == 200

    arrived = webhook_bin.wait_for(count=2, event="PROJECT_BUILD_IOS_FAIL")

    assert len(arrived) == 2
    webhook_bin.assert_all_valid()


def test_an_undocumented_finish_time_fails(webhook_bin):
    assert announce_failed_build(webhook_bin.url, "yesterday") == 200
    webhook_bin.wait_for(count=1)

    webhook_bin.assert_all_valid()
'''

USER_PYPROJECT = """
[project]
name = "shipyard"
version = "1.0"

[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["error"]
"""


def test_the_plugin_comes_with_the_install_in_a_user_project(
    installed: Installed, tmp_path: Path
) -> None:
    project = tmp_path / "shipyard"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(USER_PYPROJECT)
    (project / "tests" / "test_webhooks.py").write_text(USER_TESTS)

    # no -p, no conftest: the plugin must come from the installed entry point; warnings are
    # errors there, as in a strict user's CI
    result = run(
        [installed.bin / "pytest", "-rA"], cwd=project, env=venv_env(), check=False, timeout=120
    )
    output = result.stdout + result.stderr

    assert result.returncode == 1, output
    assert re.search(r"^plugins: .*\breceiver-", output, re.M), output
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\b1 failed, 1 passed\b", summary), output
    assert "PASSED tests/test_webhooks.py::test_documented_deliveries_pass" in output
    assert "FAILED tests/test_webhooks.py::test_an_undocumented_finish_time_fails" in output
    assert "1 of 1 requests in bin" in output, output
    assert '/build/finished_at: "yesterday" is not a valid date-time [format]' in output, output
    assert str(PROJECT_ROOT) not in output, output
