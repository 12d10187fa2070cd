"""Liveness and readiness probes (outside /api/v1: load balancers and orchestrators use them)."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.errors import Unauthorized
from app.metrics import REGISTRY

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
    """Readiness: 200 only when PostgreSQL and Redis both answer, 503 otherwise (and while
    the process drains after SIGTERM, so the load balancer takes it out).
    ---
    tags: [health]
    responses:
      200:
        description: Ready to serve students.
        schema:
          $ref: '#/definitions/Readiness'
      503:
        description: A backing store is unavailable, or the process is stopping.
        schema:
          $ref: '#/definitions/Readiness'
    definitions:
      Readiness:
        type: object
        properties:
          status: {type: string, enum: [ready, unavailable, stopping]}
          checks:
            type: object
            properties:
              postgres: {type: boolean}
              redis: {type: boolean}
    """
    checks = current_app.extensions["pizarra"].health.readiness()
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    if current_app.extensions["pizarra_sockets"].stopping:
        ready, body["status"] = False, "stopping"
    return jsonify(body), (200 if ready else 503)


@bp.get("/metrics")
def metrics():
    """Prometheus metrics of this process (text exposition format): questions by source,
    LLM calls, latency, tokens and cost, live lessons, events sent, errors by code, database
    pool. With METRICS_TOKEN set, needs `Authorization: Bearer <METRICS_TOKEN>`.
    ---
    tags: [health]
    produces: [text/plain]
    responses:
      200:
        description: The metrics.
      401: {$ref: '#/responses/Unauthorized'}
    """
    token = current_app.extensions["pizarra"].settings.metrics_token
    given = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("Estas métricas necesitan su token.")
    return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)
