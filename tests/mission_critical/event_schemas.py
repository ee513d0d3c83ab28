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
from referencing import Registry, Resource

from .contract import EVENT_TYPES, type_of

if TYPE_CHECKING:
    from collections.abc import Mapping

SCHEMA_DIR = Path(__file__).parent / "schemas"
BASE_SCHEMA = "agent_event"


def read_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


@cache
def load_validators() -> dict[str, Draft202012Validator]:
    """One validator per event type, each able to resolve the shared base schema."""
    schemas = {name: read_schema(name) for name in (BASE_SCHEMA, *EVENT_TYPES)}
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return {
        event_type: Draft202012Validator(schemas[event_type], registry=registry)
        for event_type in EVENT_TYPES
    }


def schema_errors(event: Mapping[str, Any]) -> list[str]:
    """What a normalized event breaks of its type's schema; empty when it matches."""
    validator = load_validators().get(type_of(event))
    if validator is None:
        return [f"no schema for type {type_of(event)!r}"]
    errors = sorted(validator.iter_errors(dict(event)), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in errors]
