"""/api/v1/questions/ask and /api/v1/answers: answers outside a live lesson, and feedback."""

from __future__ import annotations

import uuid

from flask import current_app

from app.api.v1 import api_v1
from app.auth.decorators import current_principal, require_auth
from app.controllers.validation import json_body
from app.errors import NotFound
from app.models.ask import AskRequest, FeedbackIn


@api_v1.post("/questions/ask")
@require_auth
def ask_question():
    """The whole answer document for a question (the live lesson streams the same answer).
    Costs 1 credit and 1 unit of the daily limit when there is an answer to give.
    ---
    tags: [questions]
    security: [{bearerAuth: []}]
    parameters:
      - in: body
        name: body
        required: true
        schema: {$ref: '#/definitions/AskRequest'}
    responses:
      200:
        description: The answer, and the student's remaining credits.
        schema: {$ref: '#/definitions/AskResult'}
      400: {$ref: '#/responses/InvalidInput'}
      415: {$ref: '#/responses/NotJson'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
      402:
        description: INSUFFICIENT_CREDITS, with retry_after until the monthly renewal.
        schema: {$ref: '#/definitions/ErrorEnvelope'}
      429: {$ref: '#/responses/RateLimited'}
      503:
        description: AI_UNAVAILABLE (details.similar lists questions that have answers), or a
          store is unavailable.
        schema: {$ref: '#/definitions/ErrorEnvelope'}
    """
    request = json_body(AskRequest)
    result = current_app.extensions["pizarra"].questions_pipeline.ask(current_principal(), request)
    return result.model_dump(mode="json")


@api_v1.post("/answers/<answer_id>/feedback")
@require_auth
def answer_feedback(answer_id: str):
    """Rate an explanation the student received (1-5), say if it was understood, or that the
    question was seen in the exam.
    ---
    tags: [answers]
    security: [{bearerAuth: []}]
    parameters:
      - {in: path, name: answer_id, type: string, format: uuid, required: true}
      - in: body
        name: body
        required: true
        schema: {$ref: '#/definitions/FeedbackIn'}
    responses:
      200:
        description: The feedback as stored and the answer's votes.
        schema: {$ref: '#/definitions/FeedbackResult'}
      400: {$ref: '#/responses/InvalidInput'}
      415: {$ref: '#/responses/NotJson'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
    """
    try:
        answer_id = str(uuid.UUID(answer_id))
    except ValueError:
        raise NotFound("No encontramos esa explicación en tu historial.") from None
    feedback = json_body(FeedbackIn)
    result = current_app.extensions["pizarra"].feedback.give(
        user_id=current_principal().user_id, answer_id=answer_id, feedback=feedback
    )
    return result.model_dump(mode="json")
