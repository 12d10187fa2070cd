"""/api/v1/auth: the signed-in student's account."""

from __future__ import annotations

from flask import current_app

from app.api.v1 import api_v1
from app.auth.decorators import bearer_token, current_principal, require_auth
from app.controllers.validation import json_body
from app.errors import NotFound
from app.models.account import DevSignIn, ProfileUpdate


def _accounts():
    return current_app.extensions["pizarra"].accounts


@api_v1.get("/auth/me")
@require_auth
def get_me():
    """The student's profile, plan, credits, daily limit and progress by subject.
    ---
    tags: [auth]
    security: [{bearerAuth: []}]
    responses:
      200:
        description: The account as it stands now (resets applied).
        schema: {$ref: '#/definitions/MeResponse'}
      401: {$ref: '#/responses/Unauthorized'}
    """
    return _accounts().get_me(current_principal()).model_dump(mode="json")


@api_v1.patch("/auth/me")
@require_auth
def patch_me():
    """Change the student's name, language, learning level or time zone.
    ---
    tags: [auth]
    security: [{bearerAuth: []}]
    parameters:
      - in: body
        name: body
        required: true
        schema: {$ref: '#/definitions/ProfileUpdate'}
    responses:
      200:
        description: The updated account.
        schema: {$ref: '#/definitions/MeResponse'}
      400: {$ref: '#/responses/InvalidInput'}
      415: {$ref: '#/responses/NotJson'}
      401: {$ref: '#/responses/Unauthorized'}
    """
    update = json_body(ProfileUpdate)
    return _accounts().update_me(current_principal(), update).model_dump(mode="json")


@api_v1.post("/auth/logout")
@require_auth
def logout():
    """Log out: this token stops working at once and the student's live lessons end.
    (The browser also signs out of Supabase, which ends the login session everywhere.)
    ---
    tags: [auth]
    security: [{bearerAuth: []}]
    responses:
      204:
        description: Logged out.
      401: {$ref: '#/responses/Unauthorized'}
    """
    current_app.extensions["pizarra"].logout.logout(current_principal(), bearer_token())
    return "", 204


DEV_TOKEN_SECONDS = 3600


@api_v1.post("/auth/dev-token")
def dev_token():
    """Local auth only (never in production): sign in as a local student, created on first use,
    and get a Supabase-shaped access token. Absent (404) when local auth is off.
    ---
    tags: [auth]
    parameters:
      - in: body
        name: body
        required: true
        schema: {$ref: '#/definitions/DevSignIn'}
    responses:
      200:
        description: A token for the student, valid for an hour.
        schema: {$ref: '#/definitions/DevToken'}
      400: {$ref: '#/responses/InvalidInput'}
      404: {$ref: '#/responses/NotFound'}
      415: {$ref: '#/responses/NotJson'}
    """
    tokens = current_app.extensions["pizarra"].dev_tokens
    if tokens is None:
        raise NotFound("Esta dirección no existe.")
    sign_in = json_body(DevSignIn)
    issued = tokens.sign_in(
        email=sign_in.email, full_name=sign_in.full_name, ttl_seconds=DEV_TOKEN_SECONDS
    )
    return issued.model_dump(mode="json")
