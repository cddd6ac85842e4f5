"""JSON Schema of each event, and the check that a new schema does not break an old one.

Compatibility is full: old events on a `.v1` topic must still validate (a replay rebuilds the
projections from them) and old consumers must still read new events. So a field may be added only
as optional; removing a field, changing its type, tightening its pattern, removing an enum value
or making a field required is breaking (opening a code list
to a pattern all its codes match is the one widening allowed, for region data) and belongs on a `.v2` topic.
"""

import re
from typing import Any

from zorgstroom_contracts.events import EventSpec

Schema = dict[str, Any]


def schema_of(spec: EventSpec) -> Schema:
    """The published JSON Schema of one event type's data."""
    schema = spec.model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:zorgstroom:event:{spec.event_type}:v{spec.schema_version}"
    schema["x-topic"] = spec.topic.value
    schema["x-key"] = spec.key_field
    return schema


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every way in which `new` breaks producers or consumers of `old`; empty when compatible."""
    problems: list[str] = []
    _compare(old, new, old.get("$defs", {}), new.get("$defs", {}), "data", problems)
    return problems


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _types(node: Schema, defs: dict[str, Schema]) -> set[str]:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return set().union(*(_types(member, defs) for member in node["anyOf"]))
    kind = node.get("type", "object" if "properties" in node else "any")
    return set(kind) if isinstance(kind, list) else {kind}


def _enum_opened_to_pattern(old: Schema, new: Schema) -> bool:
    """A closed list of codes opened to a pattern that every old code matches: old events still validate,
    and new codes are region data that consumers look up (CareFormCode). Allowed on purpose."""
    values = old.get("enum") or []
    pattern = new.get("pattern")
    return (
        bool(values)
        and "pattern" not in old
        and pattern is not None
        and "enum" not in new
        and all(re.fullmatch(pattern, str(v)) for v in values)
    )


def _compare(
    old: Schema,
    new: Schema,
    old_defs: dict[str, Schema],
    new_defs: dict[str, Schema],
    path: str,
    problems: list[str],
) -> None:
    old, new = _resolve(old, old_defs), _resolve(new, new_defs)
    if _types(old, old_defs) != _types(new, new_defs):
        problems.append(f"{path}: type changed from {sorted(_types(old, old_defs))} to {sorted(_types(new, new_defs))}")
        return
    for constraint in ("pattern", "format"):
        if constraint == "pattern" and _enum_opened_to_pattern(old, new):
            continue
        if old.get(constraint) != new.get(constraint):
            problems.append(f"{path}: {constraint} changed from {old.get(constraint)!r} to {new.get(constraint)!r}")
    old_values = {str(v) for v in old.get("enum") or []}
    new_values = old_values if _enum_opened_to_pattern(old, new) else {str(v) for v in new.get("enum") or old_values}
    removed_values = old_values - new_values
    if removed_values:
        problems.append(f"{path}: enum values removed: {sorted(removed_values)}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed")
        else:
            _compare(old_prop, new_props[name], old_defs, new_defs, f"{path}.{name}", problems)
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{path}.{name}: field made required")
    for part in ("items", "additionalProperties"):
        if isinstance(old.get(part), dict) and isinstance(new.get(part), dict):
            _compare(old[part], new[part], old_defs, new_defs, f"{path}[]", problems)
    if "anyOf" in old and "anyOf" in new and len(old["anyOf"]) == len(new["anyOf"]):
        for i, (o, n) in enumerate(zip(old["anyOf"], new["anyOf"], strict=True)):
            _compare(o, n, old_defs, new_defs, f"{path}|{i}", problems)
