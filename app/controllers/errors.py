"""The one place that maps failures to what a client sees: the HTTP envelope
`{"error": {"code", "message", "retry_after"?}}` and the Socket.IO `error` event payload.
No stack trace or SQL ever reaches a client; unexpected errors are logged with their trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.errors import AppError
from app.metrics import ERRORS

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("INVALID_INPUT", "La solicitud no es válida."),
    401: ("UNAUTHORIZED", "Necesitas iniciar sesión para continuar."),
    403: ("UNAUTHORIZED", "No tienes permiso para hacer esto."),
    404: ("NOT_FOUND", "No encontramos lo que buscas."),
    405: ("INVALID_INPUT", "Método no permitido en esta ruta."),
    413: ("INVALID_INPUT", "La solicitud es demasiado grande."),
    415: ("INVALID_INPUT", "El contenido debe ser JSON."),
    429: ("RATE_LIMIT_EXCEEDED", "Demasiadas solicitudes. Espera un momento."),
}


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The `error` event payload for any exception (socket handlers use this too)."""
    if isinstance(exc, AppError):
        if exc.http_status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.__cause__ or exc)
        return exc.to_payload()
    log.exception("unexpected error", exc_info=exc)
    return AppError().to_payload()


def _envelope(payload: dict[str, Any], status: int, retry_after: int | None = None):
    ERRORS.labels(payload.get("code", "INTERNAL_ERROR"), "http").inc()
    response = jsonify({"error": payload})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        return _envelope(error_payload(exc), exc.http_status, exc.retry_after)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code, message = _HTTP_CODES.get(status, ("INTERNAL_ERROR", AppError.default_message))
        response = _envelope({"code": code, "message": message}, status)
        valid_methods = getattr(exc, "valid_methods", None)
        if valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)  # RFC 9110 for 405
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        return _envelope(error_payload(exc), 500)
