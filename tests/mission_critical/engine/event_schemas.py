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

if TYPE_CHECKING:
    from collections.abc import Mapping

SCHEMA_DIR = Path(__file__).parent / "schemas"
BASE_SCHEMA = "agent_event"


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
        return [f"no schema for type {event_type!r}"]
    if validator.is_valid(event):  # the same verdict; the errors are only collected when wrong
        return []
    errors = sorted(validator.iter_errors(dict(event)), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in errors]
