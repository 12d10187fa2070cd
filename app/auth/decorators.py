"""`@require_auth` for HTTP routes. Socket.IO connect uses the same `AuthService.authenticate`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from app.auth.verifier import Principal
from app.errors import Unauthorized
from app.utils.logs import bind

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def require_auth(view: F) -> F:
    """The route runs only for a caller with a valid token and a live login session."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        auth = current_app.extensions["pizarra"].auth
        if auth is None:
            raise Unauthorized("La autenticación no está configurada en este servidor.")
        g.principal = auth.authenticate(bearer_token())
        bind(user_id=g.principal.user_id)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:  # a route that forgot @require_auth must not run unauthenticated
        raise Unauthorized()
    return cast(Principal, principal)
