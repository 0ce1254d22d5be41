"""Validation: a request body -> detected event -> JSON Schema verdict with JSON Pointer paths.

The verdict (``ValidationResult``) has the shape the API documents (``ValidationResult`` in
``receiver/exports/openapi/api.json``)::

    {status: valid|invalid|timed_out|unknown_event|not_json|no_body, provider, event, candidates,
     errors: [{path, message, keyword}], warnings: [{path, message, keyword}]}

- ``path`` is a JSON Pointer into the payload ("" is the whole payload). A missing required
  field is reported at the object that lacks it (as JSON Schema's own output format does), and
  the message names the field.
- The validator is jsonschema-rs (Rust): drafts 4, 6, 7, 2019-09 and 2020-12, chosen by the
  schema's ``$schema`` (2020-12 when it names none); a regex engine without catastrophic
  backtracking (patterns that need backtracking run with a step limit); no network access.
- Formats are asserted: a ``date-time``, ``email``, ``uri`` or ``uuid`` that does not match is
  an error (keyword ``format``).
- ``oneOf``/``anyOf`` that nothing matches: one error at the combinator names the branch that
  came closest, followed by that branch's own errors. Closest is the branch whose ``const`` or
  ``enum`` discriminators (or ``type``) match the payload, then the one with the fewest errors.
- Warnings never change the status. Keyword ``additionalProperties``: a field the schema does
  not declare, at the field's own pointer; only objects whose schema declares ``properties``
  are checked, so open (undocumented) parts give none. Keyword ``catalog``: the event name is
  not in the catalog (ApiTree's envelope was checked instead, or nothing was). Keyword
  ``budget``: a description was cut short by the time budget.
- Several candidates (Appery sends identical bodies for some event pairs): the payload is
  validated against each; it is ``valid`` only if valid against all. An issue found for every
  candidate is listed once; one found for some only is listed once with the candidates it
  applies to in front of its message, e.g. ``"[APPLICATION_VERSION_CREATE] required field ..."``.
- ``not_json`` and ``no_body`` carry the provider/event that settings or headers name, and
  ``not_json`` one error (keyword ``json``) that says why the body is not JSON.
- ``timed_out``: the check could not finish within the time budget (one error, keyword
  ``budget``). Small cases run in this process, where the Rust validator is linear in payload
  times schema; a schema whose ``$ref``s expand past ``RISKY_WEIGHT`` nodes, or a large payload
  against a large schema, runs in a separate worker process with a deadline and a memory limit
  (``receiver.catalog.isolation``), which is killed when the deadline passes.

Compiled forms are cached by schema identity (holding the schema, so an id cannot be reused
while cached) and then by schema content, so an equal schema loaded again, e.g. a user schema
read from the database on each request, is not compiled again.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from itertools import islice
from typing import Any

import jsonschema_rs

from receiver.catalog.detection import Detection
from receiver.catalog.detection import detect_event
from receiver.catalog.model import Catalog
from receiver.catalog.model import expanded_weight
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_parts
from receiver.catalog.pointers import resolve_pointer
from receiver.catalog.pointers import to_pointer

# every verdict, in the order the API documents them
VERDICTS = ("valid", "invalid", "timed_out", "unknown_event", "not_json", "no_body")
DEFAULT_BUDGET_MS = 250
CACHE_SIZE = 512
# the undeclared-field walk stops this deep (the JSON parser bounds the payload's own depth)
MAX_WALK_DEPTH = 128
# errors described per schema node, and branches scored per combinator
MAX_ERRORS = 50
MAX_BRANCHES = 64
# ref-expanded schema size above which a check runs in the worker process (GitHub's whole
# webhook schema, 20,742 nodes, expands to about 900,000)
RISKY_WEIGHT = 5_000_000
# a payload this large against a schema this heavy also goes to the worker: describing the
# errors of a big payload against many branches costs time and memory in proportion
LARGE_PAYLOAD = 256 * 1024
HEAVY_WEIGHT = 20_000
# steps a backtracking pattern (lookaround, backreference) may take before it gives up
BACKTRACK_LIMIT = 100_000
# the base URI a schema is registered under, so that subschemas get validators of their own
BASE_URI = "https://receiver.local/schema.json"
_COMBINATORS = ("oneOf", "anyOf")
_FAILED_BRANCHES = (
    jsonschema_rs.ValidationErrorKind.OneOfNotValid,
    jsonschema_rs.ValidationErrorKind.AnyOf,
)
# keywords that do not assert anything: a node holding only these and a combinator is "pure"
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "id",
        "$comment",
        "$defs",
        "definitions",
        "$anchor",
        "title",
        "description",
        "examples",
        "example",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)


@dataclass(frozen=True)
class Issue:
    """One error or warning: where in the payload, what is wrong, which schema keyword."""

    path: str
    message: str
    keyword: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON shape ``{path, message, keyword}``."""
        return {"path": self.path, "message": self.message, "keyword": self.keyword}


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
        """The result as the API shows it (``ValidationResult`` in the OpenAPI document)."""
        return {
            "status": self.status,
            "provider": self.provider,
            "event": self.event,
            "candidates": list(self.candidates),
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
        }


class BudgetExceeded(Exception):
    """The check did not finish within its time budget (``issue`` says how far it got)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


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
        from receiver.catalog.isolation import check_isolated

        return check_isolated(schema, payload, budget_ms)
    return check(compiled, payload, time.monotonic() + budget_ms / 1000)


def check(
    compiled: Compiled,
    payload: Any,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[Issue], list[Issue]]:
    """Validate in this process: validity in Rust, then errors and warnings described here.

    The descriptions stop at ``deadline`` (a moment of ``clock``), leaving a ``budget`` issue;
    validity itself is one Rust call, which the caller keeps small (see
    :func:`validate_against`).
    """
    state = _State(compiled, deadline, clock)
    if compiled.validator.is_valid(payload):
        errors: list[Issue] = []
    else:
        try:
            errors = state.describe("", payload, ())
        except BudgetExceeded:
            errors = [
                Issue(
                    "",
                    "the payload does not match the schema; describing how ran past "
                    "the time budget",
                    "budget",
                )
            ]
        if not errors:  # only a validator that disagrees with itself gets here
            errors = [Issue("", "the payload does not match the schema", "$schema")]
    warnings: list[Issue] = []
    try:
        state.walk([""], payload, [], warnings, 0)
    except BudgetExceeded:
        warnings.append(
            Issue("", "the check for undocumented fields stopped at the time budget", "budget")
        )
    except RecursionError:
        pass
    return errors, warnings


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
        return json.loads(text, parse_constant=_reject_constant), None
    except RecursionError:
        return None, Issue("", "the body is JSON nested too deeply to parse", "json")
    except ValueError as exc:
        return None, Issue("", f"the body is not valid JSON: {exc}", "json")


# --------------------------------------------------------------------------- compiled schemas


def _refuse_retrieval(uri: str) -> Any:
    raise ValueError(f"{uri}: schemas are never fetched; only references inside it are resolved")


def compile_options() -> dict[str, Any]:
    """The jsonschema-rs options every validator is built with."""
    return {
        "validate_formats": True,
        "pattern_options": jsonschema_rs.FancyRegexOptions(backtrack_limit=BACKTRACK_LIMIT),
        "retriever": _refuse_retrieval,
    }


class Compiled:
    """A schema with its Rust validator, its ref-expanded weight and validators of subschemas."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.problem: str | None = None
        self.weight = expanded_weight(schema, RISKY_WEIGHT + 1)
        self._subs: dict[str, jsonschema_rs.Validator | None] = {}
        self._registry: jsonschema_rs.Registry | None = None
        self._lock = threading.Lock()
        try:
            self.validator = jsonschema_rs.validator_for(schema, **compile_options())
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            self.validator = jsonschema_rs.validator_for(True)
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            self.problem = f"the schema cannot be applied: {first}"

    def node(self, pointer: str) -> Any:
        """The schema node at a JSON Pointer into the document (``MISSING`` if none)."""
        return resolve_pointer(self.schema, pointer)

    def sub(self, pointer: str) -> jsonschema_rs.Validator | None:
        """A validator for the subschema at ``pointer`` (in the document's own context)."""
        if pointer == "":
            return self.validator
        found = self._subs.get(pointer, MISSING)
        if found is not MISSING:
            return found
        with self._lock:
            if self._registry is None:
                self._registry = jsonschema_rs.Registry(
                    [(BASE_URI, self.schema)], retriever=_refuse_retrieval
                )
            try:
                reference = BASE_URI + "#" + _fragment(pointer)
                made: jsonschema_rs.Validator | None = jsonschema_rs.validator_for(
                    {"$ref": reference},
                    registry=self._registry,
                    validate_formats=True,
                    pattern_options=jsonschema_rs.FancyRegexOptions(
                        backtrack_limit=BACKTRACK_LIMIT
                    ),
                )
            except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError):
                made = None
            if len(self._subs) > 4096:
                self._subs.clear()
            self._subs[pointer] = made
        return made

    def passes(self, pointer: str, instance: Any) -> bool:
        """Whether ``instance`` is valid against the subschema at ``pointer``."""
        validator = self.sub(pointer)
        return validator is not None and validator.is_valid(instance)


def _fragment(pointer: str) -> str:
    """A JSON Pointer as a URI fragment (RFC 6901, section 6)."""
    return re.sub(r"[^A-Za-z0-9/~._\-$!&'()*+,;=:@]", lambda m: _percent(m.group(0)), pointer)


def _percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8"))


_cache_lock = threading.Lock()
_by_identity: OrderedDict[int, tuple[dict[str, Any], Compiled]] = OrderedDict()
_by_content: OrderedDict[str, Compiled] = OrderedDict()


def get_compiled(schema: dict[str, Any]) -> Compiled:
    """The cached compiled form of ``schema`` (by identity, then by content)."""
    entry = _by_identity.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    with _cache_lock:
        compiled = _by_content.get(key)
        if compiled is None:
            compiled = Compiled(schema)
            _by_content[key] = compiled
            if len(_by_content) > CACHE_SIZE:
                _by_content.popitem(last=False)
        # the entry holds the schema itself: its id cannot be reused while the entry lives
        _by_identity[id(schema)] = (schema, compiled)
        if len(_by_identity) > CACHE_SIZE:
            _by_identity.popitem(last=False)
    return compiled


# --------------------------------------------------------------------------- describing errors


class _State:
    """One check: the compiled schema, the deadline, and the describing and walking steps."""

    def __init__(self, compiled: Compiled, deadline: float, clock: Callable[[], float]) -> None:
        self.compiled = compiled
        self.deadline = deadline
        self.clock = clock
        self.steps = 0

    def tick(self, where: str) -> None:
        """Raise BudgetExceeded once the deadline has passed (checked every few steps)."""
        self.steps += 1
        if self.steps % 64 == 0 and self.clock() > self.deadline:
            raise BudgetExceeded(Issue(where, "the check ran past its time budget", "budget"))

    def describe(self, pointer: str, instance: Any, at: tuple[str | int, ...]) -> list[Issue]:
        """The errors of ``instance`` (found at payload path ``at``) against the node at
        ``pointer``; a pure combinator is described branch by branch."""
        pointer = self.follow_refs(pointer)
        node = self.compiled.node(pointer)
        keyword = _pure_combinator(node)
        if keyword is not None:
            return self.describe_combinator(f"{pointer}/{keyword}", keyword, instance, at)
        validator = self.compiled.sub(pointer)
        if validator is None:
            return [Issue(to_pointer(at), "the schema cannot be applied here", "$schema")]
        issues: list[Issue] = []
        errors = validator.iter_errors(instance)
        for count, error in enumerate(errors):
            if count == MAX_ERRORS:
                issues.append(Issue(to_pointer(at), "more errors not listed", "errors"))
                break
            path = (*at, *error.instance_path)
            name = error.kind.name
            location = to_pointer(error.schema_path)
            failed_branches = isinstance(error.kind, _FAILED_BRANCHES)
            if failed_branches and isinstance(self.compiled.node(location), list):
                issues.extend(self.describe_combinator(location, name, error.instance, path))
                continue
            issues.append(_issue(error, path))
            self.tick(to_pointer(at))
        return issues

    def follow_refs(self, pointer: str) -> str:
        """Follow a chain of nodes that are only a local ``$ref`` (and annotations)."""
        for _ in range(32):
            node = self.compiled.node(pointer)
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return pointer
            if any(key not in _ANNOTATIONS and key != "$ref" for key in node):
                return pointer
            target = local_ref(self.compiled.schema, node["$ref"])
            if target is None:
                return pointer
            pointer = target
        return pointer

    def describe_combinator(
        self, pointer: str, keyword: str, instance: Any, at: tuple[str | int, ...]
    ) -> list[Issue]:
        """Name the closest branch of a failed ``oneOf``/``anyOf`` and list its errors."""
        branches = self.compiled.node(pointer)
        where = to_pointer(at)
        if not isinstance(branches, list) or not branches:
            return [Issue(where, "does not match the allowed shapes", keyword)]
        pointers = [f"{pointer}/{index}" for index in range(len(branches))]
        if keyword == "oneOf":
            passing = [i for i, p in enumerate(pointers) if self.compiled.passes(p, instance)]
            if len(passing) > 1:
                labels = ", ".join(self.label(pointers[i]) for i in passing[:5])
                text = f"matches more than one of the allowed shapes: {labels}"
                return [Issue(where, text, keyword)]
        statuses = [self.discriminate(p, instance, 0) for p in pointers]
        candidates = [i for i, s in enumerate(statuses) if s == "match"] or [
            i for i, s in enumerate(statuses) if s == "neutral"
        ]
        which = "any" if keyword == "anyOf" else "exactly one"
        shapes = f"{which} of the {len(branches)} allowed shapes"
        if not candidates:
            hint = self.discriminator_hint(pointers, instance)
            return [Issue(where, f"does not match {shapes}{hint}", keyword)]
        best_score: tuple[int, ...] = (2**31, 0, 0)
        best = candidates[0]
        if len(candidates) > 1:
            for index in candidates[:MAX_BRANCHES]:
                score = self.score(pointers[index], instance, 0)
                if score < best_score:
                    best, best_score = index, score
                self.tick(where)
        errors = self.describe(pointers[best], instance, at)
        closest = self.label(pointers[best])
        head = Issue(where, f"does not match {shapes}; closest: {closest}", keyword)
        return [head, *errors]

    def score(self, pointer: str, instance: Any, depth: int) -> tuple[int, ...]:
        """How far ``instance`` is from a branch, least first: a wrong type (or const/enum) at
        its root, then the errors at the payload's top level (one per unexpected field), then
        all errors. A branch that fails only deep inside has the right shape."""
        pointer = self.follow_refs(pointer)
        node = self.compiled.node(pointer)
        keyword = _pure_combinator(node)
        if keyword is not None and depth < 4:
            subs = [f"{pointer}/{keyword}/{i}" for i in range(len(node[keyword]))]
            statuses = [self.discriminate(p, instance, 0) for p in subs]
            chosen = [p for p, s in zip(subs, statuses, strict=True) if s == "match"] or [
                p for p, s in zip(subs, statuses, strict=True) if s == "neutral"
            ]
            if not chosen:
                return (1, MAX_ERRORS, MAX_ERRORS)
            return min(self.score(p, instance, depth + 1) for p in chosen[:MAX_BRANCHES])
        validator = self.compiled.sub(pointer)
        if validator is None:
            return (1, MAX_ERRORS, MAX_ERRORS)
        wrong_type = top = count = 0
        for error in islice(validator.iter_errors(instance), MAX_ERRORS):
            count += 1
            if error.instance_path:
                continue
            if error.kind.name in ("type", "const", "enum", "falseSchema"):
                wrong_type = 1
            elif isinstance(error.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
                top += len(error.kind.unexpected)
            else:
                top += 1
        return (wrong_type, top, count)

    def discriminate(self, pointer: str, instance: Any, depth: int) -> str:
        """'match' when a ``const``/``enum`` of the branch matches the payload and none
        contradicts it, 'mismatch' when one contradicts it (or its ``type`` does), else
        'neutral'; a pure combinator takes the best of its own branches."""
        pointer = self.follow_refs(pointer)
        node = self.compiled.node(pointer)
        if not isinstance(node, dict):
            return "mismatch" if node is False else "neutral"
        keyword = _pure_combinator(node)
        if keyword is not None:
            if depth >= 3:
                return "neutral"
            found = {
                self.discriminate(f"{pointer}/{keyword}/{i}", instance, depth + 1)
                for i in range(len(node[keyword]))
            }
            return "match" if "match" in found else "neutral" if "neutral" in found else "mismatch"
        if "type" in node and not _type_admits(node["type"], instance):
            return "mismatch"
        if "const" in node or "enum" in node:
            return "match" if _value_admitted(node, instance) else "mismatch"
        properties = node.get("properties")
        if not isinstance(instance, dict) or not isinstance(properties, dict):
            return "neutral"
        status = "neutral"
        required = node["required"] if isinstance(node.get("required"), list) else []
        for name, sub in properties.items():
            sub = self.compiled.node(self.follow_refs(f"{pointer}/properties/{_escape(name)}"))
            if not isinstance(sub, dict) or not ("const" in sub or "enum" in sub):
                continue
            if name not in instance:
                if name in required:
                    return "mismatch"
                continue
            if not _value_admitted(sub, instance[name]):
                return "mismatch"
            status = "match"
        return status

    def discriminator_hint(self, pointers: list[str], instance: Any) -> str:
        """'; /type is "x", allowed: "a", "b"' when the branches differ by one property."""
        if not isinstance(instance, dict):
            return ""
        allowed: dict[str, list[Any]] = {}
        for pointer in pointers:
            node = self.compiled.node(self.follow_refs(pointer))
            properties = node.get("properties") if isinstance(node, dict) else None
            for name, sub in (properties or {}).items() if isinstance(properties, dict) else ():
                if isinstance(sub, dict) and "const" in sub:
                    allowed.setdefault(name, []).append(sub["const"])
                elif isinstance(sub, dict) and isinstance(sub.get("enum"), list):
                    allowed.setdefault(name, []).extend(sub["enum"])
        for name, values in allowed.items():
            if name in instance:
                shown = ", ".join(_show(v, 30) for v in values[:10])
                more = ", …" if len(values) > 10 else ""
                got = _show(instance[name], 40)
                return f"; /{_escape(name)} is {got}, allowed: {shown}{more}"
        return ""

    def label(self, pointer: str) -> str:
        """A branch as a reader knows it: its title, the name it refers to, or its place."""
        node = self.compiled.node(pointer)
        target = self.follow_refs(pointer)
        for candidate in (node, self.compiled.node(target)):
            if isinstance(candidate, dict) and isinstance(candidate.get("title"), str):
                return repr(candidate["title"][:80])
        if target != pointer:
            return repr(target.rsplit("/", 1)[-1][:80])
        return f"#{pointer}"

    # ----------------------------------------------------------------------- undeclared fields

    def walk(
        self,
        pointers: list[str],
        instance: Any,
        path: list[str | int],
        out: list[Issue],
        depth: int,
    ) -> None:
        """Append a warning for every payload field that the applicable schemas do not declare."""
        if depth > MAX_WALK_DEPTH or not isinstance(instance, dict | list):
            return
        self.tick(to_pointer(path))
        applicable: list[tuple[str, dict[str, Any]]] = []
        for pointer in pointers:
            self.collect(pointer, instance, applicable, 0)
        if isinstance(instance, dict):
            self.walk_object(applicable, instance, path, out, depth)
            return
        for index, item in enumerate(instance):
            if not isinstance(item, dict | list):
                continue
            subs = []
            for pointer, schema in applicable:
                prefix_key = "prefixItems" if "prefixItems" in schema else None
                items = schema.get("items")
                if prefix_key is None and isinstance(items, list):
                    prefix_key = "items"  # the tuple form of drafts 4 to 2019-09
                prefix = schema.get(prefix_key) if prefix_key else None
                if isinstance(prefix, list) and index < len(prefix):
                    subs.append(f"{pointer}/{prefix_key}/{index}")
                elif isinstance(items, dict):
                    subs.append(f"{pointer}/items")
                elif isinstance(schema.get("additionalItems"), dict):
                    subs.append(f"{pointer}/additionalItems")
            if subs:
                self.walk(subs, item, [*path, index], out, depth + 1)

    def walk_object(
        self,
        applicable: list[tuple[str, dict[str, Any]]],
        instance: dict[str, Any],
        path: list[str | int],
        out: list[Issue],
        depth: int,
    ) -> None:
        declares = False
        explicitly_open = False
        for _, schema in applicable:
            if "properties" in schema or "patternProperties" in schema:
                declares = True
            if "additionalProperties" in schema or "unevaluatedProperties" in schema:
                explicitly_open = True
        for key, value in instance.items():
            subs = []
            required = False
            for pointer, schema in applicable:
                props = schema.get("properties")
                if isinstance(props, dict) and key in props:
                    subs.append(f"{pointer}/properties/{_escape(key)}")
                patterns = schema.get("patternProperties")
                for pattern in patterns if isinstance(patterns, dict) else ():
                    if _search(pattern, key):
                        subs.append(f"{pointer}/patternProperties/{_escape(pattern)}")
                required = required or key in (schema.get("required") or ())
            if not subs:
                subs = [
                    f"{pointer}/additionalProperties"
                    for pointer, s in applicable
                    if isinstance(s.get("additionalProperties"), dict)
                ]
                # a field the schema requires is documented, even without a "properties" entry
                if not subs and declares and not explicitly_open and not required:
                    where = to_pointer([*path, key])
                    out.append(
                        Issue(where, f"field {key!r} is not documented", "additionalProperties")
                    )
            if subs and isinstance(value, dict | list):
                self.walk(subs, value, [*path, key], out, depth + 1)

    def collect(
        self, pointer: str, instance: Any, out: list[tuple[str, dict[str, Any]]], depth: int
    ) -> None:
        """Gather the subschemas that apply to ``instance`` here: $ref, allOf, passing branches."""
        schema = self.compiled.node(pointer)
        if not isinstance(schema, dict) or depth > MAX_WALK_DEPTH:
            return
        out.append((pointer, schema))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = local_ref(self.compiled.schema, ref)
            if target is not None:
                self.collect(target, instance, out, depth + 1)
        all_of = schema.get("allOf")
        for index in range(len(all_of) if isinstance(all_of, list) else 0):
            self.collect(f"{pointer}/allOf/{index}", instance, out, depth + 1)
        for keyword in _COMBINATORS:
            branches = schema.get(keyword)
            for index in range(len(branches) if isinstance(branches, list) else 0):
                branch = f"{pointer}/{keyword}/{index}"
                if self.compiled.passes(branch, instance):
                    self.collect(branch, instance, out, depth + 1)
        if "if" in schema:
            branch = "then" if self.compiled.passes(f"{pointer}/if", instance) else "else"
            if branch in schema:
                self.collect(f"{pointer}/{branch}", instance, out, depth + 1)
        dependent = schema.get("dependentSchemas")
        if isinstance(instance, dict) and isinstance(dependent, dict):
            for name in dependent:
                if name in instance:
                    self.collect(
                        f"{pointer}/dependentSchemas/{_escape(name)}", instance, out, depth + 1
                    )


def local_ref(root: Any, ref: str) -> str | None:
    """The JSON Pointer a ``$ref`` names inside ``root``, or None (anchors, other documents)."""
    own_id = ""
    if isinstance(root, dict):
        own_id = str(root.get("$id", root.get("id", ""))).split("#")[0]
    if own_id and ref.startswith(own_id + "#"):
        ref = ref[len(own_id) :]
    if not ref.startswith("#"):
        return None
    pointer = _unquote(ref[1:])
    parts = parse_pointer(pointer)
    if parts is None or resolve_parts(root, parts) is MISSING:
        return None
    return pointer


def _unquote(fragment: str) -> str:
    from urllib.parse import unquote

    return unquote(fragment) if "%" in fragment else fragment


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pure_combinator(node: Any) -> str | None:
    """``oneOf``/``anyOf`` when it is the only assertion of ``node``, else None."""
    if not isinstance(node, dict):
        return None
    found = [key for key in _COMBINATORS if isinstance(node.get(key), list) and node[key]]
    if len(found) != 1:
        return None
    if any(key not in _ANNOTATIONS and key != found[0] for key in node):
        return None
    return found[0]


_TYPE_OF = (
    (bool, ("boolean",)),
    (int, ("integer", "number")),
    (float, ("number",)),
    (str, ("string",)),
    (list, ("array",)),
    (dict, ("object",)),
)


def _type_admits(declared: Any, instance: Any) -> bool:
    names = declared if isinstance(declared, list) else [declared]
    if instance is None:
        return "null" in names
    for python_type, json_names in _TYPE_OF:
        if isinstance(instance, python_type):
            if isinstance(instance, float) and instance.is_integer() and "integer" in names:
                return True
            return any(name in names for name in json_names)
    return True


def _value_admitted(node: dict[str, Any], value: Any) -> bool:
    if "const" in node and not _json_equal(node["const"], value):
        return False
    enum = node.get("enum")
    return not isinstance(enum, list) or any(_json_equal(option, value) for option in enum)


def _json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema defines it: true is not 1, 1 is 1.0."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


# --------------------------------------------------------------------------- messages


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "array" if isinstance(value, list) else "object"


def _show(value: Any, limit: int = 60) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(_clip(value), ensure_ascii=False, default=str)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(value: Any) -> Any:
    """A small prefix of a container, enough to show its start."""
    if isinstance(value, dict):
        head = islice(value.items(), 4)
        return {k: _clip(v) if isinstance(v, dict | list) else v for k, v in head}
    if isinstance(value, list):
        return [_clip(v) if isinstance(v, dict | list) else v for v in value[:4]]
    return value


def _issue(error: jsonschema_rs.ValidationError, path: tuple[str | int, ...]) -> Issue:
    """Turn a jsonschema-rs error into an Issue with a short message that never echoes a big
    value."""
    kind = error.kind
    keyword = kind.name
    where = to_pointer(path)
    instance = error.instance
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        text = f"required field {kind.property!r} is missing"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        text = f"expected {' or '.join(kind.types)}, got {_json_type(instance)}"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Format):
        text = f"{_show(instance)} is not a valid {kind.format}"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Constant):
        text = f"must be {_show(kind.expected_value)}, got {_show(instance)}"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        allowed = ", ".join(_show(v, 30) for v in kind.options[:20])
        text = f"must be one of {allowed}; got {_show(instance)}"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        text = "fields not allowed here: " + ", ".join(repr(k) for k in kind.unexpected[:20])
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.FalseSchema):
        text = "no value is allowed here"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern):
        text = f"{_show(instance)} does not match the pattern {_show(kind.pattern)}"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.BacktrackLimitExceeded):
        keyword = "pattern"
        text = "the pattern needs too many steps to decide this value"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfMultipleValid):
        text = "matches more than one of the allowed shapes"
    else:
        message = error.message.split("\n", 1)[0]
        text = message if len(message) <= 200 else message[:199] + "…"
    return Issue(where, text, keyword)


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
