"""/api/v1/questions: the exam bank."""

from __future__ import annotations

from flask import current_app

from app.api.v1 import api_v1
from app.auth.decorators import current_principal, require_auth
from app.controllers.validation import json_body, query_args
from app.models.questions import AttemptIn, QuestionFilters


def _bank():
    return current_app.extensions["pizarra"].question_bank


@api_v1.get("/questions")
@require_auth
def list_questions():
    """Browse the exam bank, most likely in the exam first.
    ---
    tags: [questions]
    security: [{bearerAuth: []}]
    parameters:
      - $ref: '#/parameters/QuestionFilters.subject'
      - $ref: '#/parameters/QuestionFilters.topic'
      - $ref: '#/parameters/QuestionFilters.difficulty'
      - $ref: '#/parameters/QuestionFilters.tag'
      - $ref: '#/parameters/QuestionFilters.q'
      - $ref: '#/parameters/QuestionFilters.limit'
      - $ref: '#/parameters/QuestionFilters.after'
    responses:
      200:
        description: One page of questions (without their correct answers).
        schema: {$ref: '#/definitions/QuestionPage'}
      400: {$ref: '#/responses/InvalidInput'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
    """
    return _bank().list_questions(query_args(QuestionFilters)).model_dump(mode="json")


@api_v1.get("/questions/<question_ref:id_or_code>")
@require_auth
def get_question(id_or_code: str):
    """One question by id or by code (e.g. 2024Algebra14).
    ---
    tags: [questions]
    security: [{bearerAuth: []}]
    parameters:
      - {in: path, name: id_or_code, type: string, required: true}
    responses:
      200:
        description: The question (without its correct answer).
        schema: {$ref: '#/definitions/QuestionOut'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
    """
    return _bank().get_question(id_or_code).model_dump(mode="json")


@api_v1.post("/questions/<question_ref:id_or_code>/attempts")
@require_auth
def answer_question(id_or_code: str):
    """Answer a multiple-choice question: correctness, explanation and updated progress.
    ---
    tags: [questions]
    security: [{bearerAuth: []}]
    parameters:
      - {in: path, name: id_or_code, type: string, required: true}
      - in: body
        name: body
        required: true
        schema: {$ref: '#/definitions/AttemptIn'}
    responses:
      200:
        description: Whether the answer was right, and the student's progress in the subject.
        schema: {$ref: '#/definitions/AttemptResult'}
      400: {$ref: '#/responses/InvalidInput'}
      415: {$ref: '#/responses/NotJson'}
      401: {$ref: '#/responses/Unauthorized'}
      404: {$ref: '#/responses/NotFound'}
    """
    attempt = json_body(AttemptIn)
    result = _bank().answer(
        user_id=current_principal().user_id, id_or_code=id_or_code, attempt=attempt
    )
    return result.model_dump(mode="json")
