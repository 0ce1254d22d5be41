"""The architecture the layout promises, checked on every module's syntax tree.

- The domain core knows nothing of HTTP: only ``receiver.web``, the CLI and the testing package
  read Flask's request globals or render templates; the core imports nothing from Flask at all,
  except the two modules that wire Flask extensions (``storage.db``, ``storage.migrate``).
- Arrows run down: nothing below the web layer, the CLI and the testing package imports them.
- The concepts (sub-packages) import each other without cycles.

The module list is derived from the package itself, so a new module cannot escape the checks.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import receiver

PACKAGE = Path(receiver.__file__).resolve().parent
TOP = ("receiver.web", "receiver.cli", "receiver.testing", "receiver.__main__", "receiver")
EXTENSION_WIRING = {"receiver.storage.db", "receiver.storage.migrate"}
REQUEST_BOUND = {"request", "g", "current_app", "render_template", "session", "url_for"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "migrations" not in path.parts
}


def is_top(name: str) -> bool:
    return name == "receiver" or any(name == t or name.startswith(t + ".") for t in TOP[:-1])


CORE = sorted(name for name in MODULES if not is_top(name))


def imports(name: str) -> list[str]:
    """Every module ``name`` imports (absolute names; ``from x import y`` counts as x and x.y)."""
    tree = ast.parse(MODULES[name].read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def flask_uses(tree: ast.Module) -> list[str]:
    """Every Flask name a module imports, and request-bound names reached through ``flask.``."""
    found: list[str] = []
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flask":
            found += [f"from {node.module} import {a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "flask":
                    aliases.add(alias.asname or "flask")
                    found.append(f"import {alias.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr in REQUEST_BOUND
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def concept(name: str) -> str:
    """The sub-package (or top-level module) a module belongs to."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "receiver"


def imported_module(target: str) -> str | None:
    """The receiver module an import names (``receiver.x.y`` or ``receiver.x`` for ``x.y``)."""
    if target in MODULES:
        return target
    parent = target.rsplit(".", 1)[0]
    return parent if parent in MODULES else None


def concept_arrows() -> dict[str, set[str]]:
    """Which concepts each core concept imports (the top wires everything, so it is left out)."""
    arrows: dict[str, set[str]] = defaultdict(set)
    for name in CORE:
        for target in imports(name):
            module = imported_module(target)
            if module is not None and concept(module) != concept(name):
                arrows[concept(name)].add(concept(module))
    return arrows


def test_the_module_list_is_derived_and_covers_every_concept():
    concepts = {concept(name) for name in CORE}
    expected = {"storage", "bins", "capture", "catalog", "signatures", "delivery", "exports"}
    assert expected <= concepts
    assert len(CORE) > 30


@pytest.mark.parametrize("name", CORE)
def test_core_modules_do_not_touch_flask(name):
    uses = flask_uses(ast.parse(MODULES[name].read_text()))
    if name in EXTENSION_WIRING:
        uses = [use for use in uses if use.split()[-1].split(".")[-1] in REQUEST_BOUND]
    assert uses == [], f"{name} reaches into Flask: {uses}"


@pytest.mark.parametrize("name", CORE)
def test_nothing_below_imports_the_web_layer_the_cli_or_the_testing_package(name):
    upward = [target for target in imports(name) if is_top(target) and target != "receiver"]
    assert upward == [], f"{name} imports {upward}"


def test_concepts_import_each_other_without_cycles():
    arrows = concept_arrows()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(arrows.get(node, ())):
            if state.get(target) == "open":
                pytest.fail(f"cycle between concepts: {' -> '.join([*path, target])}")
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(arrows):
        if node not in state:
            visit(node, [node])


def test_modules_import_each_other_without_cycles():
    """Not even through an import inside a function (validation and its worker process were
    such a circle)."""
    arrows = {
        name: {
            module
            for target in imports(name)
            if (module := imported_module(target)) in MODULES and module != name
        }
        for name in CORE
    }
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(arrows.get(node, ())):
            if state.get(target) == "open":
                pytest.fail(f"cycle between modules: {' -> '.join([*path, target])}")
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(arrows):
        if node not in state:
            visit(node, [node])


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
        "import flask",
    ]
