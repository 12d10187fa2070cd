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


def _nul_field(data: Any, path: str = "") -> str | None:
    """Where a NUL character hides in parsed input (PostgreSQL text cannot hold it)."""
    if isinstance(data, str):
        return path or "(body)" if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            where = _nul_field(key, path) or _nul_field(
                value, f"{path}.{key}" if path else str(key)
            )
            if where:
                return where
    if isinstance(data, list):
        for index, value in enumerate(data):
            where = _nul_field(value, f"{path}.{index}" if path else str(index))
            if where:
                return where
    return None


def reject_nul_in_url() -> None:
    """before_request: a NUL in the path or query string is refused before any route runs."""
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        raise InvalidInput("La solicitud contiene caracteres no permitidos.")


def parse_model(model: type[M], data: Any) -> M:
    where = _nul_field(data)
    if where:
        raise InvalidInput(
            "La solicitud contiene caracteres no permitidos.",
            details=[{"field": where, "message": "NUL characters are not allowed"}],
        )
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
