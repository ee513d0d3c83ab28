"""AG-UI events' shape, judged by the official models (ag-ui-protocol 1.0.0's `ag_ui.core`),
and stricter where those models are lax, so the gate reads an event as a client would.

    decoded event --event_problems--> [what it breaks of its type's model]   (rule `schema`)

`ag_ui.core` reads leniently (populate_by_name, lax coercion, extra keys kept). On top of it:
- by alias only: `message_id` does not stand for `messageId`. The official TypeScript client
  reads camelCase only, so a snake_case key is a field it never sees; a top-level key that is a
  field's snake_case name is named as such;
- strict: `"1"`, `1.0` or `true` is no integer (a timestamp), `1` no string; pydantic would
  coerce them, a zod schema or a typed client would not;
- an unknown `type` (THINKING_* included: 1.0 removed them) fails, as the models make it.
Extra keys stay allowed: the protocol's clients pass them through. pydantic and `ag_ui` are
imported on first use (about 0.3 s), so only a run that judges AG-UI pays for them.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import TypeAdapter

MAX_PROBLEMS = 3  # per event: the first few say enough


@cache
def load_models() -> tuple[TypeAdapter[Any], dict[str, dict[str, str]]]:
    """The validator of every 1.0 event, and per type its fields' snake_case names -> aliases."""
    from ag_ui.core import Event
    from pydantic import TypeAdapter

    union = get_args(Event)[0]
    aliases: dict[str, dict[str, str]] = {}
    for model in get_args(union):
        kind = str(model.model_fields["type"].default.value)
        fields = model.model_fields.items()
        aliases[kind] = {name: f.alias for name, f in fields if f.alias and f.alias != name}
    return TypeAdapter(Event), aliases


def describe_error(error: Mapping[str, Any]) -> str:
    context = error.get("ctx") or {}
    if error["type"] == "union_tag_invalid" and not error["loc"]:
        return f"type {context.get('tag')!r} is not an event type of ag-ui-protocol 1.0.0"
    if error["type"] == "union_tag_not_found" and not error["loc"]:
        return "the event has no type"
    where = ".".join(str(part) for part in error["loc"][1:]) or "event"
    return f"{where}: {error['msg']}"


def event_problems(event: Mapping[str, Any]) -> list[str]:
    """What `event` breaks of its type's model; empty when it is one."""
    from pydantic import ValidationError

    if not isinstance(event, dict):
        return [f"an event is a JSON object, not {type(event).__name__}"]
    adapter, aliases = load_models()
    kind = event.get("type")
    problems = [
        f"{key}: AG-UI spells it {alias!r}"
        for key, alias in aliases.get(kind if isinstance(kind, str) else "", {}).items()
        if key in event
    ]
    try:
        adapter.validate_python(event, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems += [describe_error(error) for error in exc.errors(include_url=False)]
    return problems[:MAX_PROBLEMS]
