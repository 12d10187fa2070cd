import uuid

import pytest

from tests.conftest import auth_header


@pytest.fixture
def headers(issue_token):
    return auth_header(issue_token("ana@example.com"))


def test_start_is_idempotent_while_a_session_is_active(client, headers):
    first = client.post("/api/v1/sessions", json={"session_type": "exam"}, headers=headers)
    assert first.status_code == 201
    assert first.json["status"] == "active" and first.json["session_type"] == "exam"
    again = client.post("/api/v1/sessions", json={}, headers=headers)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]


def test_end_records_the_duration_and_a_new_session_can_start(client, headers):
    session = client.post("/api/v1/sessions", json={}, headers=headers).json
    ended = client.post(f"/api/v1/sessions/{session['id']}/end", headers=headers)
    assert ended.status_code == 200
    assert ended.json["status"] == "completed" and ended.json["ended_at"]
    assert ended.json["total_duration_seconds"] >= 0
    again = client.post(f"/api/v1/sessions/{session['id']}/end", headers=headers)
    assert again.json == ended.json
    assert client.get("/api/v1/sessions/current", headers=headers).status_code == 404
    assert client.post("/api/v1/sessions", json={}, headers=headers).status_code == 201


def test_history_pages_newest_first(client, headers):
    ids = []
    for _ in range(3):
        session = client.post("/api/v1/sessions", json={}, headers=headers).json
        client.post(f"/api/v1/sessions/{session['id']}/end", headers=headers)
        ids.append(session["id"])
    page = client.get("/api/v1/sessions?limit=2", headers=headers).json
    assert [s["id"] for s in page["items"]] == ids[::-1][:2]
    rest = client.get(
        "/api/v1/sessions",
        query_string={"limit": 2, "before": page["next_before"]},
        headers=headers,
    ).json
    assert [s["id"] for s in rest["items"]] == [ids[0]] and rest["next_before"] is None


def test_students_never_see_or_end_each_others_sessions(client, headers, issue_token):
    other = auth_header(issue_token("ben@example.com"))
    session = client.post("/api/v1/sessions", json={}, headers=headers).json
    response = client.post(f"/api/v1/sessions/{session['id']}/end", headers=other)
    assert response.status_code == 404
    assert client.get("/api/v1/sessions", headers=other).json["items"] == []
    assert client.get("/api/v1/sessions/current", headers=headers).json["status"] == "active"


@pytest.mark.parametrize("session_id", ["not-a-uuid", str(uuid.uuid4()), "1; DROP TABLE x"])
def test_unknown_session_ids_are_not_found(client, headers, session_id):
    response = client.post(f"/api/v1/sessions/{session_id}/end", headers=headers)
    assert response.status_code == 404


def test_bad_session_type_is_invalid_input(client, headers):
    response = client.post("/api/v1/sessions", json={"session_type": "party"}, headers=headers)
    assert response.status_code == 400
