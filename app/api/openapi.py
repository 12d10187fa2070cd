"""OpenAPI (Swagger 2.0, what flasgger serves) definitions generated from the pydantic models the
code validates with, so the documented shapes are the enforced ones."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from app.errors import ERROR_CODES


class ErrorBody(BaseModel):
    code: str = Field(json_schema_extra={"enum": list(ERROR_CODES)})
    message: str = Field(description="Spanish, safe to show to the student")
    retry_after: int | None = Field(default=None, description="Seconds before trying again")
    details: Any = Field(default=None, description="Per-field problems for INVALID_INPUT")


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def _to_swagger2(node: Any) -> Any:
    """JSON Schema (2020-12, as pydantic writes it) to the Swagger 2.0 subset."""
    if isinstance(node, list):
        return [_to_swagger2(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for options_key in ("anyOf", "oneOf"):
        options = node.get(options_key)
        if isinstance(options, list):
            concrete = [o for o in options if o != {"type": "null"}]
            if len(concrete) < len(options):
                node["x-nullable"] = True
            if len(concrete) == 1:
                node.pop(options_key)
                node = {**concrete[0], **node}
            else:
                # Swagger 2.0 has no unions: document the first shape, keep the rest visible.
                node.pop(options_key)
                node["x-anyOf"] = concrete
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "examples" in node:
        examples = node.pop("examples")
        if isinstance(examples, list) and examples:
            node["example"] = examples[0]
    if node.get("type") == "null":
        node.pop("type")
        node["x-nullable"] = True
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
            bound = node.pop(key)
            node["minimum" if key == "exclusiveMinimum" else "maximum"] = bound
            node[key] = True
    return {key: _to_swagger2(value) for key, value in node.items()}


def definitions(models: list[type[BaseModel]]) -> dict[str, Any]:
    _, schema = models_json_schema(
        [(model, "validation") for model in models]
        + [(model, "serialization") for model in models],
        ref_template="#/definitions/{model}",
    )
    return {name: _to_swagger2(body) for name, body in schema.get("$defs", {}).items()}


_PARAMETER_KEYS = (
    "type",
    "format",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "default",
    "description",
    "x-nullable",
)


def query_parameters(models: list[type[BaseModel]]) -> dict[str, Any]:
    """Swagger 2.0 query parameters, named `Model.field`, from flat pydantic models: routes
    reference them (`$ref: '#/parameters/QuestionFilters.q'`) instead of restating them."""
    parameters: dict[str, Any] = {}
    for model in models:
        schema = _to_swagger2(model.model_json_schema())
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            parameter = {"in": "query", "name": name, "required": name in required}
            parameter.update({k: prop[k] for k in _PARAMETER_KEYS if k in prop})
            if parameter.get("default") is None:
                parameter.pop("default", None)
            parameter.pop("x-nullable", None)
            parameters[f"{model.__name__}.{name}"] = parameter
    return parameters


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"$ref": "#/definitions/ErrorEnvelope"}}


ERROR_RESPONSES = {
    "InvalidInput": _error_response("INVALID_INPUT: the request is malformed or a field is wrong"),
    "Unauthorized": _error_response("UNAUTHORIZED: missing, invalid or expired token"),
    "NotFound": _error_response("NOT_FOUND: no such resource for this student"),
    "RateLimited": _error_response("RATE_LIMIT_EXCEEDED or DAILY_LIMIT_REACHED, with retry_after"),
    "Unavailable": _error_response("INTERNAL_ERROR: a backing store is unavailable (503)"),
    "NotJson": _error_response("INVALID_INPUT (415): the body must be application/json"),
}
