"""Request parsing shared by the HTTP controllers: JSON bodies and query strings into pydantic
models, every problem reported as INVALID_INPUT with the field that caused it."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from app.errors import InvalidInput


class UnsupportedMediaType(InvalidInput):
    http_status = 415
    default_message = "El cuerpo debe ser JSON (Content-Type: application/json)."


M = TypeVar("M", bound=BaseModel)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "(body)",
            "message": error["msg"],
        }
        for error in exc.errors()
    ]


def parse_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            "Algunos datos no son válidos.", details=validation_details(exc)
        ) from None


def json_body(model: type[M]) -> M:
    if not request.is_json:
        raise UnsupportedMediaType()
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput("El cuerpo no es JSON válido.")
    if not isinstance(data, dict):
        raise InvalidInput("El cuerpo debe ser un objeto JSON.")
    return parse_model(model, data)


def query_args(model: type[M]) -> M:
    return parse_model(model, request.args.to_dict(flat=True))
