"""The HTTP surface that exists from the foundation on: probes, API docs and the error envelope."""

import pytest

from app import create_app
from app.devstack import free_port
from app.errors import ServiceUnavailable
from tests.conftest import make_settings


@pytest.fixture
def app_with_stores_down(tmp_path):
    dead = free_port()
    application = create_app(
        make_settings(
            database_url=f"postgresql://postgres@127.0.0.1:{dead}/nothing",
            redis_url=f"redis://127.0.0.1:{dead}/0",
            database_pool_timeout=1,
            data_dir=tmp_path,
        )
    )
    yield application
    application.extensions["pizarra"].close()


def test_liveness_and_readiness_when_both_stores_answer(client):
    assert client.get("/healthz").json == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"postgres": True, "redis": True}}


def test_not_ready_while_stores_are_down_but_still_alive(app_with_stores_down):
    client = app_with_stores_down.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"postgres": False, "redis": False},
    }


def test_swagger_ui_and_openapi_spec_are_served(client):
    assert client.get("/apidocs/").status_code == 200
    spec = client.get("/apispec_1.json").json
    assert spec["info"]["title"] == "Pizarra API"
    assert {"/healthz", "/readyz"} <= set(spec["paths"])


def test_unknown_route_gets_the_error_envelope_in_spanish(client):
    response = client.get("/api/v1/no-existe")
    assert response.status_code == 404
    assert response.json == {
        "error": {"code": "NOT_FOUND", "message": "No encontramos lo que buscas."}
    }


def test_wrong_method_gets_the_error_envelope(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "INVALID_INPUT"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}


def test_failures_never_leak_internals(settings, tmp_path):
    application = create_app(settings)

    @application.get("/boom")
    def boom():
        raise RuntimeError("SELECT secret FROM internals; Traceback")

    @application.get("/down")
    def down():
        raise ServiceUnavailable()

    client = application.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "INTERNAL_ERROR"
    assert "SELECT" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)

    response = client.get("/down")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"] == {
        "code": "INTERNAL_ERROR",
        "message": ServiceUnavailable.default_message,
        "retry_after": 5,
    }
    application.extensions["pizarra"].close()


def test_cors_allows_only_configured_origins(client):
    allowed = client.get("/healthz", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(
        "/api/v1/auth/me",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_oversized_bodies_are_refused_with_413(client, issue_token):
    response = client.post(
        "/api/v1/questions/ask",
        data=b"x" * (3 * 1024 * 1024),
        content_type="application/json",
        headers={"Authorization": f"Bearer {issue_token()}"},
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "INVALID_INPUT"


def test_nul_characters_are_refused_wherever_they_hide(client, issue_token):
    headers = {"Authorization": f"Bearer {issue_token()}"}
    for url in ("/api/v1/questions?subject=a%00b", "/api/v1/questions/abc%00"):
        response = client.get(url, headers=headers)
        assert response.status_code == 400, url
        assert response.json["error"]["code"] == "INVALID_INPUT"
    response = client.post(
        "/api/v1/questions/ask", json={"question": "hola\u0000"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json["error"]["details"][0]["field"] == "question"
    response = client.patch("/api/v1/auth/me", json={"full_name": "\u0000"}, headers=headers)
    assert response.status_code == 400


def test_documented_query_parameters_are_the_validated_ones(client):
    from app.models.questions import QuestionFilters
    from app.models.study import HistoryQuery

    spec = client.get("/apispec_1.json").json
    for path, model in (("/api/v1/questions", QuestionFilters), ("/api/v1/sessions", HistoryQuery)):
        refs = {p["$ref"] for p in spec["paths"][path]["get"]["parameters"]}
        assert refs == {f"#/parameters/{model.__name__}.{name}" for name in model.model_fields}
        for ref in refs:
            assert ref.split("/")[-1] in spec["parameters"]


def test_every_response_names_its_request_for_the_logs(client):
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.42"  # a load balancer's id is kept
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    # Anything that is not a plain token is replaced, errors included.
    hostile = client.get("/api/v1/nope", headers={"X-Request-ID": "x\u00e9<script>" * 10})
    assert hostile.status_code == 404 and len(hostile.headers["X-Request-ID"]) == 32
