"""Detection: which provider and event a payload is, from settings, headers and shape.

Rules live in data, in each provider's ``provider.json`` under ``"detection"``::

    {"headers": ["X-ApiTree-Signature"],             # any of these names identifies the provider
     "rules": [
       {"present": ["/name", "/resource"],           # every pointer must resolve
        "any_present": ["/created_at", "/created_by"],  # at least one must resolve (optional)
        "equals": {"/build/status": "failed"},       # the value at each pointer must be equal
        "events": ["EVENT_A", "EVENT_B"],            # the rule's candidates, or:
        "event_from": "/name",                       # the candidate is the value at this pointer
        "fallback": true}                            # see below
     ]}

User providers add ``"event_header": "X-GitHub-Event"`` (the header's value names the event, or
a family of events that the payload's ``const``/``enum`` fields narrow down; see
``model.user_detection``).

A payload matches a rule when all its conditions hold; the candidates of a provider are the
events of every rule that matches, in rule order, without duplicates. Fallback rules count only
when no other rule matched, and then only the first fallback rule that matches: they name the
events a payload of a known shape could be when one of its values is new (an Appery build with
an undocumented status), so that it is checked against them and found invalid, not unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from receiver.catalog.model import Catalog
from receiver.catalog.model import Provider
from receiver.catalog.pointers import MISSING
from receiver.catalog.pointers import parse_pointer
from receiver.catalog.pointers import resolve_parts
from receiver.catalog.pointers import resolve_pointer


@dataclass(frozen=True)
class Detection:
    """The detected provider and event of a payload.

    ``candidates`` lists every catalog event the payload could be; ``event`` is set only when
    there is exactly one (it is None when the payload is ambiguous, e.g. Appery's identical
    PROJECT_VERSION_CREATE / APPLICATION_VERSION_CREATE bodies, or unknown). ``unlisted`` is an
    event name that the settings or the payload claim but that the catalog does not list, and
    ``unlisted_path`` the JSON Pointer it was read from ("" when it came from the settings).
    """

    provider: str | None
    event: str | None
    candidates: list[str] = field(default_factory=list)
    unlisted: str | None = None
    unlisted_path: str = ""


UNKNOWN = Detection(None, None, [])


def detect_event(
    catalog: Catalog,
    payload: Any,
    headers: Sequence[tuple[str, str]] = (),
    *,
    provider: str | None = None,
    event: str | None = None,
) -> Detection:
    """Detect the provider and event of ``payload``; never raises.

    Precedence: an explicit ``provider`` and ``event`` (a bin's settings) win outright, even
    when the event is not in the catalog (then ``unlisted`` names it). An explicit ``event``
    alone counts as both when exactly one provider lists it, and is ignored otherwise. An
    explicit ``provider`` alone narrows detection to that provider's rules; if none matches,
    the provider is still returned, with no candidates. Otherwise the providers that a header
    identifies, else every provider, are tried in catalog order: the first whose rules name
    events of its own catalog wins, else the first whose rules match at all (with no
    candidates; several providers may read the event from the same field or header, and the
    payload's event is only one's). Nothing matching gives ``Detection(None, None, [])``.
    """
    if event and not provider:
        owners = [p.id for p in catalog.providers.values() if event in p.events]
        if len(owners) == 1:
            provider = owners[0]
        else:
            event = None
    if provider and event:
        if catalog.get(provider, event) is None:
            return Detection(provider, None, [], unlisted=event)
        return Detection(provider, event, [event])
    if provider is not None:
        found = catalog.provider(provider)
        if found is None:
            return Detection(provider, None, [])
        return _match(found, headers, payload) or Detection(provider, None, [])
    claimed = _providers_from_headers(catalog, headers)
    first: Detection | None = None
    for candidate in claimed or catalog.providers.values():
        detection = _match(candidate, headers, payload)
        if detection is not None and detection.candidates:
            return detection
        first = first or detection
    if first is None and claimed:
        return Detection(claimed[0].id, None, [])
    return first or UNKNOWN


def _match(
    provider: Provider, headers: Sequence[tuple[str, str]], payload: Any
) -> Detection | None:
    """One provider's detection: its event header, else its rules; None when neither applies."""
    return _match_event_header(provider, headers, payload) or _match_provider(provider, payload)


def _providers_from_headers(catalog: Catalog, headers: Sequence[tuple[str, str]]) -> list[Provider]:
    """The providers that a header of the request identifies, in catalog order."""
    owners = _header_owners(catalog)
    claimed = {owner for name, _ in headers for owner in owners.get(name.lower(), ())}
    if not claimed:
        return []
    return [provider for provider in catalog.providers.values() if provider.id in claimed]


# each catalog's identifying headers (lower-cased) and the providers they name; a catalog's
# providers never change
_owners_by_catalog: dict[int, tuple[Any, Any]] = {}


def _header_owners(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    owners: dict[str, tuple[str, ...]] = _kept(_owners_by_catalog, catalog, _owners_of)
    return owners


def _owners_of(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    owners: dict[str, tuple[str, ...]] = {}
    for provider in catalog.providers.values():
        for header in provider.detection.get("headers", ()):
            owners[header.lower()] = (*owners.get(header.lower(), ()), provider.id)
    return owners


def _kept(cache: dict[int, tuple[Any, Any]], owner: Any, make: Callable[[Any], Any]) -> Any:
    """``make(owner)``, made once: kept by ``id(owner)`` with the owner itself, so that the id
    stays unique while the entry lives; at most 256 entries."""
    entry = cache.get(id(owner))
    if entry is not None and entry[0] is owner:
        return entry[1]
    made = make(owner)
    if len(cache) >= 256:
        cache.clear()
    cache[id(owner)] = (owner, made)
    return made


def _match_event_header(
    provider: Provider, headers: Sequence[tuple[str, str]], payload: Any
) -> Detection | None:
    """A user provider's ``event_header`` rule: the header's value is the event id, or the
    family of several (GitHub's ``X-GitHub-Event: pull_request`` with ``"action": "opened"``
    is the event ``pull-request-opened``), narrowed by the payload's ``const``/``enum`` fields.
    """
    name = provider.detection.get("event_header")
    if not name:
        return None
    value = next((v.strip() for k, v in headers if k.lower() == name.lower()), None)
    if not value:
        return None
    if value in provider.events:
        return Detection(provider.id, value, [value])
    family = _normalise(value)
    members = [e for e in provider.events.values() if _normalise(e.id).startswith(family + "-")]
    matching: list[str] = []
    exact: list[str] = []
    for event in members:
        found = _discriminators(event.schema, payload)
        if found is None:
            continue
        matching.append(event.id)
        if any(_normalise(event.id) == f"{family}-{_normalise(v)}" for v in found):
            exact.append(event.id)
    candidates = exact or matching
    if not candidates:
        return Detection(provider.id, None, [], unlisted=value[:100])
    return Detection(provider.id, candidates[0] if len(candidates) == 1 else None, candidates)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _discriminators(schema: Any, payload: Any) -> list[str] | None:
    """The string values by which the payload matches the schema's top-level ``const``/``enum``
    fields; None when one of them contradicts it."""
    node = _follow(schema, schema)
    properties = node.get("properties") if isinstance(node, dict) else None
    if not isinstance(properties, dict):
        return []
    matched: list[str] = []
    for key, sub in properties.items():
        sub = _follow(schema, sub)
        if not isinstance(sub, dict) or not ("const" in sub or "enum" in sub):
            continue
        if not isinstance(payload, dict) or key not in payload:
            continue
        allowed = [sub["const"]] if "const" in sub else sub.get("enum")
        if not isinstance(allowed, list) or payload[key] not in allowed:
            return None
        if isinstance(payload[key], str):
            matched.append(payload[key])
    return matched


def _follow(root: Any, node: Any) -> Any:
    for _ in range(8):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            return node
        target = resolve_pointer(root, ref[1:])
        if target is MISSING:
            return node
        node = target
    return node


@dataclass(frozen=True)
class _Rule:
    """A detection rule with its pointers split once."""

    present: tuple[tuple[str, ...], ...]
    any_present: tuple[tuple[str, ...], ...]
    equals: tuple[tuple[tuple[str, ...], Any], ...]
    events: tuple[str, ...]
    event_from: str | None
    fallback: bool = False
    # the top-level fields the rule cannot match without (of its present and equals pointers):
    # most rules of most providers fail on one of them, with one look into the payload
    needs: tuple[str, ...] = ()
    # the present pointers that ``needs`` does not settle for an object payload (deeper ones)
    deep_present: tuple[tuple[str, ...], ...] = ()


def _split(pointer: str) -> tuple[str, ...]:
    parts = parse_pointer(pointer)
    if parts is None:
        raise ValueError(f"not a JSON Pointer: {pointer!r}")
    return parts


# compiled rules by id(provider.detection); the entry holds the dict, so its id stays unique.
# keyed on the rules rather than the provider: a catalog rebuilt with user schemas copies its
# providers but shares their detection dicts
_compiled_rules: dict[int, tuple[Any, Any]] = {}


def _rules_of(provider: Provider) -> tuple[_Rule, ...]:
    rules: tuple[_Rule, ...] = _kept(_compiled_rules, provider.detection, _compile_rules)
    return rules


def _compile_rules(detection: dict[str, Any]) -> tuple[_Rule, ...]:
    return tuple(_rule(rule) for rule in detection.get("rules", ()))


def _match_provider(provider: Provider, payload: Any) -> Detection | None:
    """Apply one provider's rules; None when no rule matches."""
    if not isinstance(payload, dict | list):
        return None
    matching = _matching_rules(_rules_of(provider), payload)
    if not matching:
        return None
    candidates: list[str] = []
    unlisted: tuple[str, str] | None = None
    for rule in matching:
        names, missed = _rule_events(provider, rule, payload)
        candidates.extend(name for name in names if name not in candidates)
        unlisted = unlisted or missed
    name, path = unlisted if unlisted is not None and not candidates else (None, "")
    event = candidates[0] if len(candidates) == 1 else None
    return Detection(provider.id, event, candidates, name, path)


def _matching_rules(rules: tuple[_Rule, ...], payload: Any) -> list[_Rule]:
    """The rules that match ``payload``; the first matching fallback rule when none does."""
    # a provider's rules read the same few pointers (Appery's build rules differ only in the
    # values they compare): each is resolved once per payload
    values: dict[tuple[str, ...], Any] = {}
    matching = [
        rule for rule in rules if not rule.fallback and _rule_matches(rule, payload, values)
    ]
    if matching:
        return matching
    return next(
        ([rule] for rule in rules if rule.fallback and _rule_matches(rule, payload, values)), []
    )


def _rule_events(
    provider: Provider, rule: _Rule, payload: Any
) -> tuple[list[str], tuple[str, str] | None]:
    """The catalog events a matching rule names, and (the name, its pointer) when the rule
    reads an event name from the payload that the catalog does not have."""
    if rule.event_from is None:
        return [name for name in rule.events if name in provider.events], None
    value = resolve_pointer(payload, rule.event_from)
    if isinstance(value, str) and value in provider.events:
        return [value], None
    shown = value if isinstance(value, str) else json.dumps(value)[:100]
    return [], (shown, rule.event_from)


def _rule(rule: dict[str, Any]) -> _Rule:
    present = tuple(_split(p) for p in rule.get("present", ()))
    equals = tuple((_split(p), v) for p, v in rule.get("equals", {}).items())
    firsts = [parts[0] for parts in present if parts] + [parts[0] for parts, _ in equals if parts]
    return _Rule(
        present=present,
        any_present=tuple(_split(p) for p in rule.get("any_present", ())),
        equals=equals,
        events=tuple(rule.get("events", ())),
        event_from=rule.get("event_from"),
        fallback=bool(rule.get("fallback", False)),
        needs=tuple(dict.fromkeys(firsts)),
        deep_present=tuple(parts for parts in present if len(parts) != 1),
    )


def _rule_matches(rule: _Rule, payload: Any, values: dict[tuple[str, ...], Any]) -> bool:
    """Whether ``payload`` meets every condition of ``rule``; ``values`` keeps the pointers
    resolved so far in this payload."""
    present = rule.present
    if isinstance(payload, dict):
        for name in rule.needs:
            if name not in payload:
                return False
        present = rule.deep_present  # a top-level field is in ``needs``, found just now
    for parts in present:
        if _resolved(payload, parts, values) is MISSING:
            return False
    if rule.any_present and all(
        _resolved(payload, parts, values) is MISSING for parts in rule.any_present
    ):
        return False
    for parts, expected in rule.equals:
        value = _resolved(payload, parts, values)
        # bool is an int in python: compare types too, so true never equals 1
        if value is MISSING or type(value) is not type(expected) or value != expected:
            return False
    return True


def _resolved(payload: Any, parts: tuple[str, ...], values: dict[tuple[str, ...], Any]) -> Any:
    value = values.get(parts, values)  # the dict itself: not resolved yet
    if value is values:
        value = values[parts] = resolve_parts(payload, parts)
    return value
