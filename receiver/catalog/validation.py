"""Validation: a request body -> detected event -> JSON Schema verdict with JSON Pointer paths.

The verdict (``ValidationResult``) has the shape PRODUCT.md promises::

    {status: valid|invalid|unknown_event|not_json|no_body, provider, event, candidates,
     errors: [{path, message, keyword}], warnings: [{path, message, keyword}]}

- ``path`` is a JSON Pointer into the payload ("" is the whole payload). A missing required
  field is reported at the object that lacks it (as JSON Schema's own output format does), and
  the message names the field.
- Formats are asserted: a ``date-time``, ``email``, ``uri`` or ``uuid`` that does not match is
  an error (keyword ``format``).
- Warnings never change the status. Keyword ``additionalProperties``: a field the schema does
  not declare, at the field's own pointer; only objects whose schema declares ``properties``
  are checked, so open (undocumented) parts give none. Keyword ``catalog``: the event name is
  not in the catalog (ApiTree's envelope was checked instead, or nothing was).
- Several candidates (Appery sends identical bodies for some event pairs): the payload is
  validated against each; it is ``valid`` only if valid against all. An issue found for every
  candidate is listed once; one found for some only is listed once with the candidates it
  applies to in front of its message, e.g. ``"[APPLICATION_VERSION_CREATE] required field ..."``.
- ``not_json`` and ``no_body`` carry the provider/event that settings or headers name, and
  ``not_json`` one error (keyword ``json``) that says why the body is not JSON.

Speed: a schema within a small keyword subset (everything the shipped catalog uses) is also
compiled to plain closures that decide validity and collect the warnings in one pass, about ten
times faster than jsonschema; jsonschema still describes every error, so it runs only for
invalid payloads and for schemas outside the subset (see "compiled subset" below).
Compiled forms are cached by schema identity (holding the schema, so an id cannot be reused
while cached) and then by schema content, so an equal schema loaded again, e.g. a user schema
read from the database on each request, is not compiled again.
"""

from __future__ import annotations

import json
import re
import threading
from ast import literal_eval
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing.exceptions import Unresolvable

from receiver.catalog.detection import Detection
from receiver.catalog.detection import detect_event
from receiver.catalog.model import Catalog
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import resolve_pointer
from receiver.catalog.pointers import to_pointer

# every verdict, in the order the API documents them
VERDICTS = ("valid", "invalid", "unknown_event", "not_json", "no_body")
CACHE_SIZE = 512
# the undeclared-field walk stops this deep; jsonschema itself is bounded by the payload parser
MAX_WALK_DEPTH = 128


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
        """Return the PRODUCT.md shape of the result."""
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
    return validate_payload(catalog, payload, provider=provider, event=event, headers=headers)


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


def validate_detected(catalog: Catalog, payload: Any, detection: Detection) -> ValidationResult:
    """Validate a payload whose event has already been detected."""
    result = ValidationResult(
        status="valid",
        provider=detection.provider,
        event=detection.event,
        candidates=list(detection.candidates),
    )
    if detection.candidates:
        verdicts = []
        for name in detection.candidates:
            found = catalog.get(detection.provider or "", name)
            if found is not None:  # None only for a detection made against another catalog
                verdicts.append((name, *validate_against(found.schema, payload)))
        result.errors = _merge([(name, errors) for name, errors, _ in verdicts])
        result.warnings = _merge([(name, warnings) for name, _, warnings in verdicts])
    else:
        provider = catalog.provider(detection.provider) if detection.provider else None
        note = _catalog_note(detection, provider.name if provider else None)
        if provider is None or provider.envelope is None:
            result.status = "unknown_event"
            result.warnings = [note] if detection.unlisted is not None else []
            return result
        result.errors, warnings = validate_against(provider.envelope, payload)
        result.warnings = [note, *warnings]
    result.status = "invalid" if result.errors else "valid"
    return result


def validate_against(
    schema: dict[str, Any], payload: Any, *, fast: bool = True
) -> tuple[list[Issue], list[Issue]]:
    """Validate ``payload`` against one schema; return (errors, warnings); never raises.

    A malformed schema (one that would fail :func:`receiver.catalog.check_user_schema`) gives a
    single error with keyword ``$schema`` instead of an exception.

    With ``fast`` (the default) a schema within the compiled subset is checked by its compiled
    form first, and jsonschema only runs to describe the errors of an invalid payload;
    ``fast=False`` always takes the general path (the tests compare the two).
    """
    compiled = _get_compiled(schema)
    if fast and compiled.check is not None:
        warnings: list[Issue] = []
        try:
            if compiled.check(payload, (), warnings):
                return [], warnings
        except RecursionError:
            pass
        else:
            return _errors(compiled.validator, payload), warnings
    errors = _errors(compiled.validator, payload)
    warnings = []
    try:
        _walk_undeclared(compiled.validator, [schema], payload, [], warnings, 0)
    except Exception:
        # too deep, or a malformed schema (which _errors reports): the warnings are best effort
        pass
    return errors, warnings


def _errors(validator: Draft202012Validator, payload: Any) -> list[Issue]:
    try:
        return [_describe(error) for error in validator.iter_errors(payload)]
    except Unresolvable as exc:
        return [Issue("", f"the schema has a $ref that cannot be resolved: {exc}", "$ref")]
    except RecursionError:
        return [Issue("", "the payload is nested too deeply to validate", "depth")]
    except Exception as exc:
        # only a schema that skipped check_user_schema gets here (jsonschema raises SchemaError,
        # UnknownType, or a plain TypeError for e.g. "minLength": "2"); validation never raises
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return [Issue("", f"the schema cannot be applied: {text}", "$schema")]


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


# --------------------------------------------------------------------------- compiled validators


@dataclass(frozen=True)
class _Compiled:
    validator: Draft202012Validator
    check: Check | None


_cache_lock = threading.Lock()
_by_identity: OrderedDict[int, tuple[dict[str, Any], _Compiled]] = OrderedDict()
_by_content: OrderedDict[str, _Compiled] = OrderedDict()


def get_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """Return a cached format-asserting draft 2020-12 validator for ``schema``."""
    return _get_compiled(schema).validator


def _get_compiled(schema: dict[str, Any]) -> _Compiled:
    entry = _by_identity.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    with _cache_lock:
        compiled = _by_content.get(key)
        if compiled is None:
            validator = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            compiled = _Compiled(validator, compile_schema(schema))
            _by_content[key] = compiled
            if len(_by_content) > CACHE_SIZE:
                _by_content.popitem(last=False)
        # the entry holds the schema itself: its id cannot be reused while the entry lives
        _by_identity[id(schema)] = (schema, compiled)
        if len(_by_identity) > CACHE_SIZE:
            _by_identity.popitem(last=False)
    return compiled


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


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "array" if isinstance(value, list) else "object"


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_REQUIRED = re.compile(r"^(.*) is a required property$", re.DOTALL)


def _describe(error: ValidationError) -> Issue:
    """Turn a jsonschema error into an Issue with a short message that never echoes a big value."""
    keyword = str(error.validator)
    value: Any = error.validator_value
    instance = error.instance
    path = to_pointer(error.absolute_path)
    if keyword == "required":
        match = _REQUIRED.match(error.message)
        try:
            name = literal_eval(match.group(1)) if match else None
        except (ValueError, SyntaxError):
            name = None
        text = f"required field {name!r} is missing" if name is not None else error.message
    elif keyword == "type":
        expected = " or ".join(value) if isinstance(value, list) else str(value)
        text = f"expected {expected}, got {_json_type(instance)}"
    elif keyword == "format":
        text = f"{_show(instance)} is not a valid {value}"
    elif keyword == "const":
        text = f"must be {_show(value)}, got {_show(instance)}"
    elif keyword == "enum":
        allowed = ", ".join(_show(v, 30) for v in value)
        text = f"must be one of {allowed}; got {_show(instance)}"
    elif keyword in ("anyOf", "oneOf"):
        text = (
            f"does not match {'any' if keyword == 'anyOf' else 'exactly one'} of the allowed shapes"
        )
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        text = "fields not allowed here: " + ", ".join(
            repr(k) for k in instance if k not in _declared_names(error.schema)
        )
    else:
        text = error.message if len(error.message) <= 200 else error.message[:199] + "…"
    return Issue(path, text, keyword)


def _declared_names(schema: Any) -> set[str]:
    return set(schema.get("properties", {})) if isinstance(schema, dict) else set()


# --------------------------------------------------------------------------- undeclared fields


def _walk_undeclared(
    validator: Draft202012Validator,
    schemas: list[Any],
    instance: Any,
    path: list[str | int],
    out: list[Issue],
    depth: int,
) -> None:
    """Append a warning for every payload field that the applicable schemas do not declare."""
    if depth > MAX_WALK_DEPTH or not isinstance(instance, dict | list):
        return
    applicable: list[dict[str, Any]] = []
    for schema in schemas:
        _collect_applicable(validator, schema, instance, applicable, 0)
    if isinstance(instance, dict):
        _walk_object(validator, applicable, instance, path, out, depth)
    else:
        for index, item in enumerate(instance):
            subs = []
            for schema in applicable:
                prefix = schema.get("prefixItems")
                if isinstance(prefix, list) and index < len(prefix):
                    subs.append(prefix[index])
                elif isinstance(schema.get("items"), dict):
                    subs.append(schema["items"])
            if subs:
                _walk_undeclared(validator, subs, item, [*path, index], out, depth + 1)


def _walk_object(
    validator: Draft202012Validator,
    applicable: list[dict[str, Any]],
    instance: dict[str, Any],
    path: list[str | int],
    out: list[Issue],
    depth: int,
) -> None:
    declares = False
    explicitly_open = False
    for schema in applicable:
        if "properties" in schema or "patternProperties" in schema:
            declares = True
        if "additionalProperties" in schema or "unevaluatedProperties" in schema:
            explicitly_open = True
    for key, value in instance.items():
        subs = []
        required = False
        for schema in applicable:
            props = schema.get("properties")
            if isinstance(props, dict) and key in props:
                subs.append(props[key])
            for pattern, sub in (schema.get("patternProperties") or {}).items():
                if _search(pattern, key):
                    subs.append(sub)
            required = required or key in (schema.get("required") or ())
        if not subs:
            subs = [
                s["additionalProperties"]
                for s in applicable
                if isinstance(s.get("additionalProperties"), dict)
            ]
            # a field the schema requires is documented, even without a "properties" entry
            if not subs and declares and not explicitly_open and not required:
                pointer = to_pointer([*path, key])
                out.append(
                    Issue(pointer, f"field {key!r} is not documented", "additionalProperties")
                )
        if subs:
            _walk_undeclared(validator, subs, value, [*path, key], out, depth + 1)


def _collect_applicable(
    validator: Draft202012Validator,
    schema: Any,
    instance: Any,
    out: list[dict[str, Any]],
    depth: int,
) -> None:
    """Gather the subschemas that apply to ``instance`` here: $ref, allOf, passing branches."""
    if not isinstance(schema, dict) or depth > MAX_WALK_DEPTH:
        return
    out.append(schema)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve_local_ref(cast(dict[str, Any], validator.schema), ref)
        if target is not MISSING:
            _collect_applicable(validator, target, instance, out, depth + 1)
    for sub in schema.get("allOf", ()):
        _collect_applicable(validator, sub, instance, out, depth + 1)
    for keyword in ("anyOf", "oneOf"):
        for sub in schema.get(keyword, ()):
            if _passes(validator, sub, instance):
                _collect_applicable(validator, sub, instance, out, depth + 1)
    if "if" in schema:
        branch = "then" if _passes(validator, schema["if"], instance) else "else"
        if branch in schema:
            _collect_applicable(validator, schema[branch], instance, out, depth + 1)
    if isinstance(instance, dict):
        for name, sub in (schema.get("dependentSchemas") or {}).items():
            if name in instance:
                _collect_applicable(validator, sub, instance, out, depth + 1)


def _passes(validator: Draft202012Validator, schema: Any, instance: Any) -> bool:
    try:
        return validator.evolve(schema=schema).is_valid(instance)
    except Unresolvable:
        return False


def _resolve_local_ref(root: dict[str, Any], ref: str) -> Any:
    own_id = str(root.get("$id", "")).split("#")[0]
    if own_id and ref.startswith(own_id + "#"):
        ref = ref[len(own_id) :]
    if not ref.startswith("#"):
        return MISSING
    return resolve_pointer(root, ref[1:])


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


# --------------------------------------------------------------------------- compiled subset
# jsonschema descends keyword by keyword through generators and new validator objects, about
# 4 µs per payload node. The catalog's schemas use a small subset of keywords, which compile to
# plain closures that check validity and collect undeclared-field warnings in one pass. Any
# schema outside the subset is left to jsonschema alone, and a payload the compiled form finds
# invalid is always described by jsonschema, so only "valid" verdicts rest on this code; the
# tests check that both paths agree on every fixture variant.

Check = Callable[[Any, tuple[str | int, ...], list[Issue]], bool]

# every keyword jsonschema's draft 2020-12 validator acts on; any other key is ignored by it,
# and so here (annotations such as title, description, $comment, x-*, and $defs)
_ACTIVE_KEYWORDS = frozenset(Draft202012Validator.VALIDATORS) | {"then", "else"}
_COMPILED_KEYWORDS = frozenset(
    {
        "$ref",
        "const",
        "enum",
        "format",
        "items",
        "maxLength",
        "minLength",
        "properties",
        "required",
        "type",
    }
)


class _Unsupported(Exception):
    """The schema uses something outside the compiled subset."""


def compile_schema(schema: Any) -> Check | None:
    """Compile a schema within the supported subset into a checker; None when outside it."""
    try:
        return _Compiler(schema).compile(schema, root=True)
    except Exception:
        # _Unsupported, or a malformed schema: either way jsonschema alone handles it
        return None


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _json_equal(one: Any, two: Any) -> bool:
    """Equality as jsonschema defines it: true is not 1, 1 is 1.0, containers compared deeply."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(
            _json_equal(a, b) for a, b in zip(one, two, strict=True)
        )
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_json_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


class _Compiler:
    """Turns one schema document into closures; $refs are compiled once and may recurse."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, list[Check]] = {}
        own_id = root.get("$id", "") if isinstance(root, dict) else ""
        self.base = str(own_id).split("#")[0]

    def compile(self, schema: Any, root: bool = False) -> Check:
        if schema is True:
            return _always_true
        if schema is False:
            return _always_false
        if not isinstance(schema, dict):
            raise _Unsupported("a subschema is neither an object nor a boolean")
        active = {key for key in schema if key in _ACTIVE_KEYWORDS}
        if active - _COMPILED_KEYWORDS or (not root and "$id" in schema):
            raise _Unsupported("keyword outside the compiled subset")
        if "$ref" in schema:
            if active != {"$ref"}:
                raise _Unsupported("$ref beside other keywords")
            return self._ref(schema["$ref"])
        _check_shapes(schema)
        tests: list[Callable[[Any], bool]] = []
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            type_tests = [_TYPE_TESTS[name] for name in names]
            if len(type_tests) == 1:
                tests.append(type_tests[0])
            else:
                tests.append(lambda v: any(test(v) for test in type_tests))
        if "const" in schema:
            expected = schema["const"]
            tests.append(lambda v: _json_equal(v, expected))
        if "enum" in schema:
            allowed = list(schema["enum"])
            tests.append(lambda v: any(_json_equal(v, a) for a in allowed))
        if "format" in schema:
            tests.append(_format_test(schema["format"]))
        if "minLength" in schema:
            low = schema["minLength"]
            tests.append(lambda v: not isinstance(v, str) or len(v) >= low)
        if "maxLength" in schema:
            high = schema["maxLength"]
            tests.append(lambda v: not isinstance(v, str) or len(v) <= high)
        props = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        required = list(schema.get("required", ()))
        items = self.compile(schema["items"]) if "items" in schema else None
        return _node(tests, props, "properties" in schema, required, items)

    def _ref(self, ref: str) -> Check:
        if self.base and ref.startswith(self.base + "#"):
            ref = ref[len(self.base) :]
        if not ref.startswith("#/") and ref != "#":
            raise _Unsupported("only local JSON Pointer references are compiled")
        holder = self.refs.get(ref)
        if holder is None:
            target = resolve_pointer(self.root, ref[1:])
            if target is MISSING:
                raise _Unsupported("unresolvable $ref")
            holder = []
            self.refs[ref] = holder
            holder.append(self.compile(target))
            return holder[0]
        if holder:
            return holder[0]
        # a reference to a schema still being compiled (recursion): look it up at call time
        return lambda v, path, out: holder[0](v, path, out)


def _check_shapes(schema: dict[str, Any]) -> None:
    """Refuse keyword values of the wrong shape, which jsonschema would reject or choke on."""
    names = schema.get("type", [])
    names = names if isinstance(names, list) else [names]
    if any(name not in _TYPE_TESTS for name in names):
        raise _Unsupported("unknown type name")
    for key in ("minLength", "maxLength"):
        value = schema.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Unsupported(f"{key} is not an integer")
    if not isinstance(schema.get("enum", []), list):
        raise _Unsupported("enum is not an array")
    if not isinstance(schema.get("format", ""), str):
        raise _Unsupported("format is not a string")
    if not isinstance(schema.get("properties", {}), dict):
        raise _Unsupported("properties is not an object")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _Unsupported("required is not an array of strings")


def _always_true(value: Any, path: tuple[str | int, ...], out: list[Issue]) -> bool:
    return True


def _always_false(value: Any, path: tuple[str | int, ...], out: list[Issue]) -> bool:
    return False


def _format_test(name: str) -> Callable[[Any], bool]:
    conforms = Draft202012Validator.FORMAT_CHECKER.conforms
    return lambda v: conforms(v, name)


def _node(
    tests: list[Callable[[Any], bool]],
    props: dict[str, Check],
    declares: bool,
    required: list[str],
    items: Check | None,
) -> Check:
    """One schema object: scalar tests, then object fields in payload order, then array items."""
    declared = set(props) | set(required)

    def check(value: Any, path: tuple[str | int, ...], out: list[Issue]) -> bool:
        ok = True
        for test in tests:
            if not test(value):
                ok = False
        if isinstance(value, dict):
            for name in required:
                if name not in value:
                    ok = False
            if props or declares:
                for key, child in value.items():
                    sub = props.get(key)
                    if sub is not None:
                        ok = sub(child, (*path, key), out) and ok
                    elif declares and key not in declared:
                        out.append(
                            Issue(
                                to_pointer((*path, key)),
                                f"field {key!r} is not documented",
                                "additionalProperties",
                            )
                        )
        elif isinstance(value, list) and items is not None:
            for index, child in enumerate(value):
                ok = items(child, (*path, index), out) and ok
        return ok

    return check
