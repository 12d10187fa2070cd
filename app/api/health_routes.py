"""Liveness and readiness probes (outside /api/v1: load balancers and orchestrators use them)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: 200 while the process serves requests.
    ---
    tags: [health]
    responses:
      200:
        description: The process is alive.
        schema:
          type: object
          properties:
            status: {type: string, example: ok}
    """
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: 200 only when PostgreSQL and Redis both answer, 503 otherwise.
    ---
    tags: [health]
    responses:
      200:
        description: Ready to serve students.
        schema:
          $ref: '#/definitions/Readiness'
      503:
        description: A backing store is unavailable.
        schema:
          $ref: '#/definitions/Readiness'
    definitions:
      Readiness:
        type: object
        properties:
          status: {type: string, enum: [ready, unavailable]}
          checks:
            type: object
            properties:
              postgres: {type: boolean}
              redis: {type: boolean}
    """
    checks = current_app.extensions["pizarra"].health.readiness()
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return jsonify(body), (200 if ready else 503)
