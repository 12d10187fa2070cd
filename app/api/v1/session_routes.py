"""/api/v1/sessions: study sessions and per-subject statistics."""

from __future__ import annotations

import uuid

from flask import current_app

from app.api.v1 import api_v1
from app.auth.decorators import current_principal, require_auth
from app.controllers.validation import json_body, query_args
from app.errors import NotFound
from app.models.study import HistoryQuery, SessionStart


def _study():
    return current_app.extensions["pizarra"].study


def _session_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound("No encontramos esa sesión de estudio.") from None


@api_v1.post("/sessions")
@require_auth
def start_session():
    """Start a study session, or get the one already active.
    ---
    tags: [sessions]
    security: [{bearerAuth: []}]
    parameters:
      - in: body
        name: body
        required: true
        schema: {$ref: '#/definitions/SessionStart'}
    responses:
      201:
        description: A new session.
        schema: {$ref: '#/definitions/StudySessionOut'}
      200:
        description: The session that was already active.
        schema: {$ref: '#/definitions/StudySessionOut'}
      400: {$ref: '#/responses/InvalidInput'}
      415: {$ref: '#/responses/NotJson'}
      401: {$ref: '#/responses/Unauthorized'}
    """
    request = json_body(SessionStart)
    session, created = _study().start(user_id=current_principal().user_id, request=request)
    return session.model_dump(mode="json"), (201 if created else 200)


@api_v1.get("/sessions/current")
@require_auth
def current_session():
    """The active study session.
    ---
    tags: [sessions]
    security: [{bearerAuth: []}]
    responses:
      200:
        description: The active session.
        schema: {$ref: '#/definitions/StudySessionOut'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
    """
    return _study().current(user_id=current_principal().user_id).model_dump(mode="json")


@api_v1.post("/sessions/<session_id>/end")
@require_auth
def end_session(session_id: str):
    """End a study session (its duration is computed); ending it again changes nothing.
    ---
    tags: [sessions]
    security: [{bearerAuth: []}]
    parameters:
      - {in: path, name: session_id, type: string, format: uuid, required: true}
    responses:
      200:
        description: The ended session.
        schema: {$ref: '#/definitions/StudySessionOut'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
    """
    session = _study().end(user_id=current_principal().user_id, session_id=_session_id(session_id))
    return session.model_dump(mode="json")


@api_v1.get("/sessions")
@require_auth
def session_history():
    """The student's study sessions, newest first.
    ---
    tags: [sessions]
    security: [{bearerAuth: []}]
    parameters:
      - $ref: '#/parameters/HistoryQuery.limit'
      - $ref: '#/parameters/HistoryQuery.before'
    responses:
      200:
        description: One page of sessions.
        schema: {$ref: '#/definitions/SessionHistory'}
      400: {$ref: '#/responses/InvalidInput'}
      401: {$ref: '#/responses/Unauthorized'}
    """
    query = query_args(HistoryQuery)
    return (
        _study().history(user_id=current_principal().user_id, query=query).model_dump(mode="json")
    )


@api_v1.get("/sessions/stats")
@require_auth
def subject_stats():
    """Practice statistics by subject.
    ---
    tags: [sessions]
    security: [{bearerAuth: []}]
    responses:
      200:
        description: One entry per subject practised.
        schema:
          type: array
          items: {$ref: '#/definitions/SubjectStats'}
      401: {$ref: '#/responses/Unauthorized'}
    """
    stats = _study().stats(user_id=current_principal().user_id)
    return [item.model_dump(mode="json") for item in stats]
