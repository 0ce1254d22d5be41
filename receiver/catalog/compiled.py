"""Compiled schemas: a schema with its jsonschema-rs validator, its ref-expanded weight, and
validators of its subschemas made on demand, cached.

The validator is jsonschema-rs (Rust): drafts 4, 6, 7, 2019-09 and 2020-12, chosen by the
schema's ``$schema`` (2020-12 when it names none); formats asserted; a regex engine without
catastrophic backtracking (patterns that need backtracking run with a step limit); no network
access. Compiled forms are cached by schema identity (holding the schema, so an id cannot be
reused while cached) and then by schema content, so an equal schema loaded again, e.g. a user
schema read from the database on each request, is not compiled again.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote

import jsonschema_rs

from receiver.catalog.model import expanded_weight
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_parts
from receiver.catalog.pointers import resolve_pointer

CACHE_SIZE = 512
# ref-expanded schema size above which a check runs in the worker process (GitHub's whole
# webhook schema, 20,742 nodes, expands to about 900,000); the weight is counted up to it
RISKY_WEIGHT = 5_000_000
# steps a backtracking pattern (lookaround, backreference) may take before it gives up
BACKTRACK_LIMIT = 100_000
# the base URI a schema is registered under, so that subschemas get validators of their own
BASE_URI = "https://receiver.local/schema.json"
# subschema validators kept per schema
MAX_SUBS = 4096
_SCHEMA_ERRORS = (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError)
_UNSEEN = object()


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
        self._nodes: dict[str, Any] = {}
        self._refs: dict[str, str | None] = {}
        # what the undocumented-field walk worked out about this schema (undocumented.py): its
        # keys are made of the schema's own pointers, so it is bounded by the schema's size
        self.walk_memory: dict[Any, Any] = {}
        self._registry: jsonschema_rs.Registry | None = None
        self._lock = threading.Lock()
        try:
            self.validator = jsonschema_rs.validator_for(schema, **compile_options())
        except _SCHEMA_ERRORS as exc:
            self.validator = jsonschema_rs.validator_for(True)
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            self.problem = f"the schema cannot be applied: {first}"

    def node(self, pointer: str) -> Any:
        """The schema node at a JSON Pointer into the document (``MISSING`` if none)."""
        found = self._nodes.get(pointer, _UNSEEN)
        if found is _UNSEEN:
            found = resolve_pointer(self.schema, pointer)
            if len(self._nodes) > MAX_SUBS:
                self._nodes.clear()
            self._nodes[pointer] = found
        return found

    def ref_target(self, ref: str) -> str | None:
        """The pointer a ``$ref`` of this schema names inside it (see `local_ref`)."""
        if ref not in self._refs:
            if len(self._refs) > MAX_SUBS:
                self._refs.clear()
            self._refs[ref] = local_ref(self.schema, ref)
        return self._refs[ref]

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
                made: jsonschema_rs.Validator | None = jsonschema_rs.validator_for(
                    {"$ref": BASE_URI + "#" + _fragment(pointer)},
                    registry=self._registry,
                    validate_formats=True,
                    pattern_options=jsonschema_rs.FancyRegexOptions(
                        backtrack_limit=BACKTRACK_LIMIT
                    ),
                )
            except _SCHEMA_ERRORS:
                made = None
            if len(self._subs) > MAX_SUBS:
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


def local_ref(root: Any, ref: str) -> str | None:
    """The JSON Pointer a ``$ref`` names inside ``root``, or None (anchors, other documents)."""
    own_id = ""
    if isinstance(root, dict):
        own_id = str(root.get("$id", root.get("id", ""))).split("#")[0]
    if own_id and ref.startswith(own_id + "#"):
        ref = ref[len(own_id) :]
    if not ref.startswith("#"):
        return None
    fragment = ref[1:]
    pointer = unquote(fragment) if "%" in fragment else fragment
    parts = parse_pointer(pointer)
    if parts is None or resolve_parts(root, parts) is MISSING:
        return None
    return pointer


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
