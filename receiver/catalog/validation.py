"""Validation: a request body -> detected event -> JSON Schema verdict with JSON Pointer paths.

The verdict (``ValidationResult``) has the shape of the API document's ``ValidationResult``::

    {status: valid|invalid|timed_out|unknown_event|not_json|no_body, provider, event, candidates,
     errors: [{path, message, keyword}], warnings: [{path, message, keyword}]}

- ``path`` is a JSON Pointer into the payload ("" is the whole payload); the errors are
  described by ``describing`` (the closest branch of a failed ``oneOf``/``anyOf`` chosen by
  ``branches``), on the validator and cache of ``compiled``.
- Formats are asserted: a ``date-time``, ``email``, ``uri`` or ``uuid`` that does not match is
  an error (keyword ``format``).
- Warnings never change the status. Keyword ``additionalProperties``: a field the schema does
  not declare (``undocumented``). Keyword ``catalog``: the event name is not in the catalog
  (ApiTree's envelope was checked instead, or nothing was). Keyword ``budget``: a description
  was cut short by the time budget.
- Several candidates (Appery sends identical bodies for some event pairs): the payload is
  validated against each; it is ``valid`` only if valid against all. An issue found for every
  candidate is listed once; one found for some only is listed once with the candidates it
  applies to in front of its message, e.g. ``"[APPLICATION_VERSION_CREATE] required field ..."``.
- ``not_json`` and ``no_body`` carry the provider/event that settings or headers name, and
  ``not_json`` one error (keyword ``json``) that says why the body is not JSON.
- ``timed_out``: the check could not finish within the time budget (one error, keyword
  ``budget``). Small cases run in this process (``checking``), where the Rust validator is
  linear in payload times schema; a schema whose ``$ref``s expand past ``RISKY_WEIGHT`` nodes,
  or a large payload against a large schema, runs in a separate worker process with a deadline
  and a memory limit (``isolation``), which is killed when the deadline passes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from receiver.catalog.checking import check
from receiver.catalog.compiled import RISKY_WEIGHT
from receiver.catalog.compiled import get_compiled
from receiver.catalog.detection import Detection
from receiver.catalog.detection import detect_event
from receiver.catalog.isolation import check_isolated
from receiver.catalog.issues import BudgetExceeded
from receiver.catalog.issues import Issue
from receiver.catalog.model import Catalog

# every verdict, in the order the API documents them
VERDICTS = ("valid", "invalid", "timed_out", "unknown_event", "not_json", "no_body")
DEFAULT_BUDGET_MS = 250
# a payload this large against a schema this heavy also goes to the worker: describing the
# errors of a big payload against many branches costs time and memory in proportion
LARGE_PAYLOAD = 256 * 1024
HEAVY_WEIGHT = 20_000


@dataclass
class ValidationResult:
    """The verdict on one payload (see the module docstring for the semantics)."""

    status: str
    provider: str | None = None
    event: str | None = None
    candidates: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as the JSON API answers it."""
        return {
            "status": self.status,
            "provider": self.provider,
            "event": self.event,
            "candidates": list(self.candidates),
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
        }


def validate_body(
    catalog: Catalog,
    body: bytes,
    *,
    provider: str | None = None,
    event: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> ValidationResult:
    """Validate a request body (already decoded of any Content-Encoding); never raises.

    Empty -> ``no_body``; not UTF-8 or not JSON -> ``not_json``; otherwise as
    :func:`validate_payload`.
    """
    if not body:
        return _without_payload(catalog, "no_body", [], headers, provider, event)
    payload, problem = parse_json(body)
    if problem is not None:
        return _without_payload(catalog, "not_json", [problem], headers, provider, event)
    detection = detect_event(catalog, payload, headers, provider=provider, event=event)
    return validate_detected(catalog, payload, detection, size=len(body))


def validate_payload(
    catalog: Catalog,
    payload: Any,
    *,
    provider: str | None = None,
    event: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> ValidationResult:
    """Detect the event of a parsed JSON payload and validate it against its schema(s)."""
    detection = detect_event(catalog, payload, headers, provider=provider, event=event)
    return validate_detected(catalog, payload, detection)


def validate_detected(
    catalog: Catalog, payload: Any, detection: Detection, *, size: int | None = None
) -> ValidationResult:
    """Validate a payload whose event has already been detected.

    ``size`` is the payload's size in bytes when known (it decides where a heavy check runs).
    """
    result = ValidationResult(
        status="valid",
        provider=detection.provider,
        event=detection.event,
        candidates=list(detection.candidates),
    )
    budget = catalog.validation_budget_ms
    try:
        if detection.candidates:
            verdicts = []
            for name in detection.candidates:
                found = catalog.get(detection.provider or "", name)
                if found is not None:  # None only for a detection made against another catalog
                    outcome = validate_against(found.schema, payload, budget_ms=budget, size=size)
                    verdicts.append((name, *outcome))
            result.errors = _merge([(name, errors) for name, errors, _ in verdicts])
            result.warnings = _merge([(name, warnings) for name, _, warnings in verdicts])
        else:
            provider = catalog.provider(detection.provider) if detection.provider else None
            note = _catalog_note(detection, provider.name if provider else None)
            if provider is None or provider.envelope is None:
                result.status = "unknown_event"
                result.warnings = [note] if detection.unlisted is not None else []
                return result
            result.errors, warnings = validate_against(
                provider.envelope, payload, budget_ms=budget, size=size
            )
            result.warnings = [note, *warnings]
    except BudgetExceeded as exceeded:
        result.status = "timed_out"
        result.errors = [exceeded.issue]
        result.warnings = []
        return result
    result.status = "invalid" if result.errors else "valid"
    return result


def validate_against(
    schema: dict[str, Any],
    payload: Any,
    *,
    budget_ms: int = DEFAULT_BUDGET_MS,
    size: int | None = None,
    isolate: bool | None = None,
) -> tuple[list[Issue], list[Issue]]:
    """Validate ``payload`` against one schema; return (errors, warnings).

    A malformed schema (one that would fail :func:`receiver.catalog.check_user_schema`) gives a
    single error with keyword ``$schema`` instead of an exception. ``isolate`` forces (True) or
    forbids (False) the worker process; by default heavy cases go there (see the module
    docstring).

    :raise BudgetExceeded: the check did not finish within ``budget_ms``.
    """
    compiled = get_compiled(schema)
    if compiled.problem is not None:
        return [Issue("", compiled.problem, "$schema")], []
    if isolate is None:
        isolate = compiled.weight > RISKY_WEIGHT
        if not isolate and compiled.weight > HEAVY_WEIGHT:
            if size is None:
                size = len(json.dumps(payload, separators=(",", ":")))
            isolate = size > LARGE_PAYLOAD
    if isolate:
        return check_isolated(schema, payload, budget_ms)
    return check(compiled, payload, time.monotonic() + budget_ms / 1000)


def parse_json(body: bytes) -> tuple[Any, Issue | None]:
    """Parse a body as UTF-8 JSON; return (payload, None) or (None, the reason as an Issue).

    A leading UTF-8 byte order mark is ignored (RFC 8259 allows it); NaN and Infinity, which
    Python's json module would accept, are rejected.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Issue("", f"the body is not valid UTF-8 (byte {exc.start})", "json")
    text = text.removeprefix("\ufeff")
    try:
        return _DECODER.decode(text), None
    except RecursionError:
        return None, Issue("", "the body is JSON nested too deeply to parse", "json")
    except ValueError as exc:
        return None, Issue("", f"the body is not valid JSON: {exc}", "json")


# --------------------------------------------------------------------------- helpers


def _without_payload(
    catalog: Catalog,
    status: str,
    errors: list[Issue],
    headers: Sequence[tuple[str, str]],
    provider: str | None,
    event: str | None,
) -> ValidationResult:
    detection = detect_event(catalog, None, headers, provider=provider, event=event)
    return ValidationResult(
        status=status,
        provider=detection.provider,
        event=detection.event,
        candidates=list(detection.candidates),
        errors=errors,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# json.loads with parse_constant builds a decoder per call; one, stateless, serves every thread
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _catalog_note(detection: Detection, provider_name: str | None) -> Issue:
    if detection.unlisted is None:
        what = "the event could not be recognised"
    else:
        what = f"event name {detection.unlisted!r} is not in the catalog"
    if provider_name is not None and detection.provider is not None:
        what += f"; only the {provider_name} envelope was checked"
    return Issue(detection.unlisted_path, what, "catalog")


def _merge(per_candidate: list[tuple[str, list[Issue]]]) -> list[Issue]:
    """Union issues of several candidates; label those that do not apply to all."""
    if len(per_candidate) == 1:
        return per_candidate[0][1]
    owners: dict[Issue, list[str]] = {}
    for name, issues in per_candidate:
        for issue in issues:
            names = owners.setdefault(issue, [])
            if name not in names:
                names.append(name)
    merged = []
    for issue, names in owners.items():
        if len(names) < len(per_candidate):
            issue = Issue(issue.path, f"[{', '.join(names)}] {issue.message}", issue.keyword)
        merged.append(issue)
    return merged
