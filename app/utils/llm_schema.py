"""The JSON Schema sent to the LLM, derived from a pydantic model (never written twice).

OpenAI's strict structured outputs accept a subset of JSON Schema: every object lists all its
properties as required and forbids others, optional values are a union with null, unions are
`anyOf` (not `oneOf` with a discriminator), and tuples and length/pattern keywords are not
supported. `strict_json_schema` rewrites pydantic's schema into that subset; what the subset
cannot say (lengths, patterns, clamping) is checked again by the model itself on the way back,
after `drop_nulls` has turned the model's explicit nulls back into absent fields.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

# Keywords strict mode rejects or ignores; the pydantic model checks them on the way back.
_UNSUPPORTED = {
    "default",
    "title",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "discriminator",
    "maxProperties",
    "minProperties",
    "examples",
}


def strict_json_schema(
    model: type[BaseModel],
    *,
    drop_fields: frozenset[str] = frozenset(),
    drop_definitions: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """`model`'s JSON Schema in the strict subset. `drop_fields` are properties the LLM must not
    write (computed on the server); `drop_definitions` are `$defs` (e.g. union variants) it is
    not offered."""
    schema = copy.deepcopy(model.model_json_schema())
    definitions = schema.get("$defs", {})
    for name in drop_definitions:
        definitions.pop(name, None)
    dropped_refs = {f"#/$defs/{name}" for name in drop_definitions}
    result = _strict(schema, drop_fields, dropped_refs)
    if not definitions:
        result.pop("$defs", None)
    return result


def _strict(node: Any, drop_fields: frozenset[str], dropped_refs: set[str]) -> Any:
    if isinstance(node, list):
        return [_strict(item, drop_fields, dropped_refs) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: value for key, value in node.items() if key not in _UNSUPPORTED}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if "anyOf" in node:
        node["anyOf"] = [
            variant for variant in node["anyOf"] if variant.get("$ref") not in dropped_refs
        ]
    if "prefixItems" in node:  # a tuple (x, y): an array of that many numbers
        items = node.pop("prefixItems")
        node["items"] = items[0]
        node["minItems"] = node["maxItems"] = len(items)
    if node.get("type") == "object" and "properties" in node:
        required = set(node.get("required", []))
        properties = {}
        for name, prop in node["properties"].items():
            if name in drop_fields:
                continue
            prop = _strict(prop, drop_fields, dropped_refs)
            if name not in required and not _nullable(prop):
                prop = {"anyOf": [prop, {"type": "null"}]}
            properties[name] = prop
        node["properties"] = properties
        node["required"] = list(properties)
        node["additionalProperties"] = False
    return {
        key: _strict(value, drop_fields, dropped_refs) if key != "properties" else value
        for key, value in node.items()
    }


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(
        variant.get("type") == "null" for variant in prop.get("anyOf", [])
    )


def drop_nulls(value: Any) -> Any:
    """The model writes null for what it leaves out; the pydantic models want it absent."""
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value
