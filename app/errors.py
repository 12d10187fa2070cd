"""Domain errors. Each carries a code from ARCHITECTURE.md section 7 and a Spanish message safe
to show a student; internal detail goes to the log, never to the client."""

from __future__ import annotations

from typing import Any

ERROR_CODES = (
    "INVALID_INPUT",
    "UNAUTHORIZED",
    "RATE_LIMIT_EXCEEDED",
    "TOO_MANY_CONNECTIONS",
    "INSUFFICIENT_CREDITS",
    "DAILY_LIMIT_REACHED",
    "AI_UNAVAILABLE",
    "CONTENT_REFUSED",
    "NOT_FOUND",
    "INTERNAL_ERROR",
)


class AppError(Exception):
    code = "INTERNAL_ERROR"
    http_status = 500
    default_message = "Ocurrió un error inesperado. Inténtalo de nuevo en un momento."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        details: Any = None,
    ):
        self.message = message or self.default_message
        self.retry_after = retry_after
        self.details = details
        super().__init__(self.message)

    def to_payload(self) -> dict[str, Any]:
        """The `error` event payload and the inside of the HTTP envelope."""
        payload: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            payload["retry_after"] = self.retry_after
        if self.details is not None:
            payload["details"] = self.details
        return payload


class InvalidInput(AppError):
    code = "INVALID_INPUT"
    http_status = 400
    default_message = "La solicitud no es válida."


class Unauthorized(AppError):
    code = "UNAUTHORIZED"
    http_status = 401
    default_message = "Necesitas iniciar sesión para continuar."


class NotFound(AppError):
    code = "NOT_FOUND"
    http_status = 404
    default_message = "No encontramos lo que buscas."


class RateLimitExceeded(AppError):
    code = "RATE_LIMIT_EXCEEDED"
    http_status = 429
    default_message = "Demasiadas preguntas seguidas. Espera un momento."


class ServiceUnavailable(AppError):
    """A backing store (PostgreSQL or Redis) did not answer in time."""

    code = "INTERNAL_ERROR"
    http_status = 503
    default_message = "El servicio no está disponible en este momento. Inténtalo de nuevo pronto."

    def __init__(self, message: str | None = None, *, retry_after: int | None = 5, **kw: Any):
        super().__init__(message, retry_after=retry_after, **kw)


class AiUnavailable(AppError):
    """No stored answer, and the AI service cannot write one now (provider down, quota, an
    answer that failed its checks). Never an invented answer instead."""

    code = "AI_UNAVAILABLE"
    http_status = 503
    default_message = (
        "Todavía no tenemos una explicación para esa pregunta y no podemos generarla ahora."
    )


class ContentRefused(AppError):
    """A question we do not answer: flagged by moderation, or outside what students study
    (then the message is the model's own kind refusal)."""

    code = "CONTENT_REFUSED"
    http_status = 422
    default_message = "No podemos responder a esa pregunta. Pregúntanos algo de tus materias."


class GenerationFailed(AiUnavailable):
    """The answer being written failed after part of it was shown: the lesson ends there, and
    the student is not charged for it."""

    default_message = (
        "No pudimos terminar de escribir esta explicación. No se te ha cobrado; "
        "inténtalo de nuevo en un momento."
    )
