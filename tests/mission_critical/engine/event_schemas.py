"""The JSON Schemas (draft 2020-12) of the normalized agent events, loaded once.

`schemas/agent_event.schema.json` holds what every event carries; `schemas/<type>.schema.json`
adds one type's fields and refers to it by `$id`. The suite validates events after
`contract.normalize`, so one schema serves the flat and the data shape.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from contract.rules import EVENT_TYPES, type_of
from contract.visible import show

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jsonschema import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schemas"
BASE_SCHEMA = "agent_event"
EPOCH_SECONDS_BELOW = 1e11  # agent_event's bound (year 5138): a number above it is finer
FINER_UNITS = ((1e17, "nanoseconds"), (1e14, "microseconds"), (EPOCH_SECONDS_BELOW, "milliseconds"))


def read_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


def inline_refs(node: Any, by_id: Mapping[str, dict[str, Any]], defs: Mapping[str, Any]) -> Any:
    """`node` with every `$ref` replaced by what it names, so validation never looks one up.

    Resolving the base schema's `$id` through a registry on every event was half the suite's
    time at 1,000 users. Only the two kinds of reference these schemas use are accepted: another
    schema's `$id`, and `#/$defs/<name>` inside the schema that holds it.
    """
    if isinstance(node, list):
        return [inline_refs(item, by_id, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in by_id:
            target = by_id[ref]
            body = {k: v for k, v in target.items() if k not in {"$id", "$schema", "$defs"}}
            return inline_refs(body, by_id, target.get("$defs", {}))
        if ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs:
            return inline_refs(defs[ref.removeprefix("#/$defs/")], by_id, defs)
        raise ValueError(f"schema reference {ref!r} is not one the suite resolves")
    return {key: inline_refs(value, by_id, defs) for key, value in node.items()}


@cache
def load_validators() -> dict[str, Draft202012Validator]:
    """One validator per event type, the shared base schema inlined into each."""
    schemas = {name: read_schema(name) for name in (BASE_SCHEMA, *EVENT_TYPES)}
    by_id = {schema["$id"]: schema for schema in schemas.values()}
    validators: dict[str, Draft202012Validator] = {}
    for event_type in EVENT_TYPES:
        schema = schemas[event_type]
        flat = inline_refs(schema, by_id, schema.get("$defs", {}))
        Draft202012Validator.check_schema(flat)
        validators[event_type] = Draft202012Validator(flat)
    return validators


def schema_errors(event: Mapping[str, Any]) -> list[str]:
    """What a normalized event breaks of its type's schema; empty when it matches."""
    event_type = type_of(event)
    validator = load_validators().get(event_type)
    if validator is None:
        return [f"no schema for type {show(event_type)}"]
    if validator.is_valid(event):  # the same verdict; the errors are only collected when wrong
        return []
    errors = sorted(validator.iter_errors(dict(event)), key=lambda error: list(error.path))
    return [f"{error.json_path}: {explain(error)}" for error in errors]


def explain(error: ValidationError) -> str:
    """What an error says to the backend's author: jsonschema's message, except for a
    timestamp, whose `oneOf` alone ("not valid under any of the given schemas") says nothing."""
    if list(error.path) != ["timestamp"] or error.validator != "oneOf":
        return error.message
    value = error.instance
    if isinstance(value, str):
        return f"{show(value)} is not an ISO 8601 date-time (nor a number of epoch seconds)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{show(value)} is neither epoch seconds (a number) nor an ISO 8601 string"
    for floor, unit in FINER_UNITS:
        if value >= floor:
            return (
                f"{show(value)} looks like epoch {unit}; the contract wants epoch seconds "
                f"(a number above 0 and below 1e11) or an ISO 8601 string"
            )
    return f"{show(value)} is not epoch seconds (a number above 0 and below 1e11)"
