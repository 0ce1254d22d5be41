"""The domain core knows nothing of HTTP: no flask.request, g, current_app or render_template.

Only the web layer (``receiver/web``) reads the request or renders templates; the core modules
take plain values and may use ``db.session``. Checked on each module's syntax tree, so a
mention in a docstring or comment does not count but every way of importing does.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

CORE_MODULES = (
    "analysis",
    "bins",
    "bodies",
    "capture",
    "capture_store",
    "catalog",
    "config",
    "detection",
    "exports",
    "forwarding",
    "listing",
    "openapi",
    "recordings",
    "replay",
    "replays",
    "samples",
    "sending",
    "signatures",
    "tokens",
    "user_schemas",
    "validation",
)
REQUEST_BOUND = {"request", "g", "current_app", "render_template", "session", "url_for"}


def syntax_tree(name: str) -> ast.Module:
    module = importlib.import_module(f"receiver.{name}")
    return ast.parse(inspect.getsource(module))


def flask_uses(tree: ast.Module) -> list[str]:
    """Every request-bound Flask name a module imports or reaches through ``flask.``."""
    found: list[str] = []
    flask_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flask":
            found += [
                f"from {node.module} import {a.name}" for a in node.names if a.name != "Flask"
            ]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "flask":
                    flask_aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in flask_aliases
            and node.attr in REQUEST_BOUND
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_module_does_not_touch_the_request_or_templates(name):
    uses = [
        use
        for use in flask_uses(syntax_tree(name))
        if use.split()[-1].split(".")[-1] in REQUEST_BOUND
    ]
    assert uses == [], f"receiver/{name}.py reaches into Flask's request context: {uses}"


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_module_imports_nothing_from_flask(name):
    """Not even response types: the core returns plain values and the web layer builds
    responses (analysis once imported flask.Response for a strict-validation rejection)."""
    assert flask_uses(syntax_tree(name)) == []


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_module_does_not_import_the_web_layer(name):
    for node in ast.walk(syntax_tree(name)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            assert not (node.level and module.split(".")[0] == "web"), module
            assert not module.startswith("receiver.web"), module


def test_the_checker_sees_request_context_imports():
    tree = ast.parse(
        "import flask\nfrom flask import current_app, Response\n"
        "def f():\n    return flask.request.args, flask.g\n"
    )
    assert sorted(flask_uses(tree)) == [
        "flask.g",
        "flask.request",
        "from flask import Response",
        "from flask import current_app",
    ]
