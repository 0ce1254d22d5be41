"""What is derived from a capture before it is stored: event, validation, signature.

The catalog issue fills this in; for now nothing is derived and nothing is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from flask import Response

from .capture import RawRequest


@dataclass
class Derived:
    """Derived column values, and an optional rejection (strict validation answers 422)."""

    columns: dict[str, Any] = field(default_factory=dict)
    reject: Callable[[int], Response] | None = None


def analyze(raw: RawRequest, target: Any, now: datetime) -> Derived:
    """Derive the stored columns for a capture."""
    return Derived()
