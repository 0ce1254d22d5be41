"""Where the app's data lives: templates, static files and the shipped catalog.

In a clone they sit at the top of the repository, where the product's design names them
(``templates/``, ``static/``, ``fixtures/catalog/``). The wheel maps the same folders into the
package under ``receiver/_data/`` (see ``[tool.hatch.build.targets.wheel.force-include]`` in
pyproject.toml), so an installed receiver finds them without a source tree. This is the one
place that knows both layouts.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PACKAGED = PACKAGE / "_data"
CLONE = PACKAGE.parent

# resource name -> its folder in a clone, relative to the repository root
CLONE_FOLDERS = {
    "templates": "templates",
    "static": "static",
    "catalog": "fixtures/catalog",
}


def resource_dir(name: str) -> Path:
    """The folder of a resource (``templates``, ``static`` or ``catalog``).

    :raise KeyError: an unknown resource name.
    :raise FileNotFoundError: neither an installed copy nor a clone's folder exists.
    """
    packaged = PACKAGED / name
    if packaged.is_dir():
        return packaged
    in_clone = CLONE / CLONE_FOLDERS[name]
    if in_clone.is_dir():
        return in_clone
    raise FileNotFoundError(
        f"receiver's {name} folder is missing (looked in {packaged} and {in_clone})"
    )
