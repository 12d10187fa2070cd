"""Abuse over Socket.IO against a real server process: oversized messages, connection and
question floods from one address, forged and replayed tokens, another student's session, SQL
and LaTeX in questions. Each gets a clear refusal, the process stays healthy (no traceback,
/readyz) and a student streaming a lesson meanwhile receives it whole."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
import requests
import socketio

from tests.conftest import TEST_JWT_SECRET
from tests.integration.sockets.test_connection import ADDRESSES, Student
from tests.integration.sockets.test_event_fuzz import (
    CONTENT,
    DRAWINGS,
    LESSON,
    LESSON_EVENTS,
    ServerOutput,
    fund,
    texts_by_step,
)
from tests.live_server import running_server

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
MAX_MESSAGE_BYTES = 20_000
MAX_CONNECTIONS = 3
QUESTIONS_PER_WINDOW = 5


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("abuse"),
        STREAM_CHUNK_INTERVAL_MS="15",
        STREAM_CHUNK_CHARS="10",
        TRUSTED_PROXIES="127.0.0.1",
        MAX_CONNECTIONS_PER_IP=str(MAX_CONNECTIONS),
        RATE_LIMIT_QUESTIONS=str(QUESTIONS_PER_WINDOW),
        SOCKET_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES),
    ) as live:
        live.output = ServerOutput(live.process)
        yield live
        assert "Traceback" not in live.output.text, live.output.text


@pytest.fixture
def lessons(server):
    server.container.answers.import_answers(json.loads(FIXTURE.read_text()))


@pytest.fixture
def student(server, lessons):
    """A funded student connected from an address of its own (closed when the test ends)."""
    made: list[Student] = []

    def make(email: str = "ana@example.com", *, address: str | None = None, **connect) -> Student:
        one = Student(server.url, address or next(ADDRESSES))
        one.connect(fund(server, email), **connect)
        made.append(one)
        return one

    yield make
    for one in made:
        one.close()


def lesson_of(student: Student) -> list[tuple[str, dict]]:
    with student.arrived:
        return [(n, d) for n, d in student.events if n in LESSON_EVENTS]


def assert_whole_lesson(student: Student) -> None:
    """The student's last lesson arrived complete: every step's text and drawing, in order."""
    student.wait_for("feedback_request", timeout=20)
    events = lesson_of(student)
    last = [d["explanation_id"] for n, d in events if n == "explanation_start"][-1]
    mine = sorted((e for e in events if e[1]["explanation_id"] == last), key=lambda e: e[1]["seq"])
    assert texts_by_step(mine) == CONTENT
    assert [d["command"] for n, d in mine if n == "canvas_command"] == DRAWINGS


def assert_healthy(server) -> None:
    response = requests.get(f"{server.url}/readyz", timeout=5, headers={"Connection": "close"})
    assert response.status_code == 200
    assert "Traceback" not in server.output.text, server.output.text


def errors(student: Student) -> list[dict]:
    with student.arrived:
        return [d for n, d in student.events if n == "error"]


# -- oversized messages ------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_an_oversized_message_is_refused_and_the_lesson_goes_on(server, student, transport):
    bystander = student("testigo@example.com")
    bystander.client.emit("ask_question", {"question": LESSON["question"]})
    ana = Student(server.url, next(ADDRESSES))
    ana.client.connect(
        server.url,
        auth={"token": fund(server, "grande@example.com")},
        headers={"X-Forwarded-For": ana.client_ip},
        transports=[transport],
    )
    try:
        ana.wait_for("connection_established")
        ana.client.emit("ask_question", {"question": LESSON["question"]})
        ana.wait_for("step_start")
        ana.client.emit("ask_question", {"question": "x" * (MAX_MESSAGE_BYTES + 1)})
        refusal = ana.wait_for("error")
        assert refusal["code"] == "INVALID_INPUT" and "demasiado grande" in refusal["message"]
        assert refusal["details"] == {
            "reason": "message_too_large",
            "max_message_bytes": MAX_MESSAGE_BYTES,
        }
        # The connection stays, the lesson it was streaming arrives whole, and the next
        # message of a normal size is handled.
        assert ana.client.connected
        assert_whole_lesson(ana)
        ana.client.emit("submit_feedback", {"rating": 5})
        assert ana.wait_for("feedback_received")["rating"] == 5
    finally:
        ana.close()
    assert_whole_lesson(bystander)
    assert not errors(bystander)
    assert_healthy(server)


def test_an_oversized_connect_is_refused_as_a_connect_error(server, student):
    ana = Student(server.url, next(ADDRESSES))
    with pytest.raises(socketio.exceptions.ConnectionError):
        ana.connect(fund(server, "enorme@example.com"), padding="x" * (MAX_MESSAGE_BYTES + 1))
    refusal = ana.wait_for("connect_error")
    assert refusal["data"]["code"] == "INVALID_INPUT"
    assert refusal["data"]["details"]["reason"] == "message_too_large"
    ana.close()
    assert_healthy(server)


def test_a_message_in_many_frames_is_measured_whole(server, student):
    """A websocket message split in continuation frames, each small, over the limit in all."""
    import websocket  # websocket-client, python-socketio's own transport

    token = fund(server, "trozos@example.com")
    ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(ws_url, header={"X-Forwarded-For": next(ADDRESSES)})
    try:
        assert ws.recv().startswith("0")  # the Engine.IO handshake
        ws.send("40" + json.dumps({"token": token}))
        answers = [ws.recv(), ws.recv()]  # (connection_established is emitted before "40")
        assert any(a.startswith("40") for a in answers), answers
        assert any("connection_established" in a for a in answers), answers
        message = '42["ask_question",{"question":"' + "y" * MAX_MESSAGE_BYTES + '"}]'
        pieces = [message[i : i + 4000] for i in range(0, len(message), 4000)]
        ws.send_frame(websocket.ABNF.create_frame(pieces[0], websocket.ABNF.OPCODE_TEXT, fin=0))
        for piece in pieces[1:-1]:
            ws.send_frame(websocket.ABNF.create_frame(piece, websocket.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(pieces[-1], websocket.ABNF.OPCODE_CONT, fin=1))
        reply = ws.recv()
        assert reply.startswith('42["error"') and "message_too_large" in reply
        ws.send('42["pause_explanation",{}]')  # still connected: the next event is answered
        assert "INVALID_INPUT" in ws.recv()
    finally:
        ws.close()
    assert_healthy(server)


# -- floods from one address -------------------------------------------------------------------
def test_a_connection_flood_from_one_address_gets_exactly_the_allowed_connections(server, student):
    bystander = student("testigo@example.com")
    bystander.client.emit("ask_question", {"question": LESSON["question"]})
    token = fund(server, "inundacion@example.com")
    address = next(ADDRESSES)
    flood = [Student(server.url, address) for _ in range(25)]

    def attempt(one: Student) -> str:
        try:
            one.connect(token)
            return "connected"
        except socketio.exceptions.ConnectionError:
            return one.wait_for("connect_error")["data"]["code"]

    try:
        with ThreadPoolExecutor(max_workers=25) as pool:
            outcomes = list(pool.map(attempt, flood))
        assert outcomes.count("connected") == MAX_CONNECTIONS, outcomes
        assert set(outcomes) == {"connected", "TOO_MANY_CONNECTIONS"}
        # Another address is not affected while the flood holds its slots.
        assert student("vecino@example.com").client.connected
    finally:
        for one in flood:
            one.close()
    assert_whole_lesson(bystander)
    # The flood's slots are released when its connections close.
    for _ in range(50):
        try:
            Student(server.url, address).connect(token)
            break
        except socketio.exceptions.ConnectionError:
            time.sleep(0.1)
    else:
        pytest.fail("the address stayed blocked after its connections closed")
    assert_healthy(server)


def ask_in_a_burst(server, student, email: str, count: int = 40):
    ana = student(email)
    for _ in range(count):  # all at once, without waiting for answers
        ana.client.emit("ask_question", {"question": LESSON["question"]})
    ana.wait_until(
        lambda: sum(n in ("explanation_start", "error") for n, _ in ana.events) >= count,
        timeout=10,
    )
    time.sleep(0.3)
    return ana


def test_a_question_flood_is_refused_past_the_limit(server, student):
    bystander = student("testigo@example.com")
    bystander.client.emit("ask_question", {"question": LESSON["question"]})
    ana = ask_in_a_burst(server, student, "rafaga@example.com")
    refused = errors(ana)
    limited = [e for e in refused if e["code"] == "RATE_LIMIT_EXCEEDED"]
    assert len(limited) == 40 - QUESTIONS_PER_WINDOW, "the limit holds exactly under a burst"
    assert all(0 < e["retry_after"] <= 60 for e in limited)
    # The questions let through race one another (each interrupts the one before); one that
    # lost the race may be told so, never an internal error.
    assert {e["code"] for e in refused} <= {"RATE_LIMIT_EXCEEDED", "INVALID_INPUT"}
    assert_whole_lesson(ana)  # the lesson of the last one streams whole
    assert_whole_lesson(bystander)
    assert not errors(bystander)
    assert_healthy(server)


def test_a_burst_charges_only_the_lessons_that_started(server, student):
    # The questions the rate limit lets through race one another: each replaces the one before
    # (the first is kept to go back to). One replaced before its lesson started is never seen,
    # and is given back.
    ana = ask_in_a_burst(server, student, "contable@example.com")
    started = {d["explanation_id"] for n, d in lesson_of(ana) if n == "explanation_start"}
    offered = {d["explanation_id"] for n, d in lesson_of(ana) if n == "explanation_paused"}

    def charged() -> int:
        with server.container.db.transaction() as conn:
            left = conn.execute(
                "SELECT credits_remaining FROM profiles WHERE email = 'contable@example.com'"
            ).fetchone()["credits_remaining"]
        return 100_000 - left

    # (Refunds are written as the replaced lessons' greenlets notice: a moment after.)
    deadline = time.monotonic() + 10
    while charged() > len(started | offered) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert charged() == len(started | offered), "charged once per lesson the student can see"
    assert_healthy(server)


# -- tokens ------------------------------------------------------------------------------------
def forged_tokens(token: str) -> dict[str, str]:
    claims = jwt.decode(token, options={"verify_signature": False})
    header, payload, signature = token.split(".")
    other_claims = dict(claims, sub="00000000-0000-4000-8000-000000000001")
    tampered_payload = jwt.encode(other_claims, "x" * 32, algorithm="HS256").split(".")[1]
    return {
        "another secret": jwt.encode(claims, "not-this-servers-secret-0123456789", "HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "alg none, no dot": ".".join(jwt.encode(claims, None, algorithm="none").split(".")[:2]),
        "claims changed, signature kept": f"{header}.{tampered_payload}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "HS512 with the secret": jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS512"),
        "wrong audience": jwt.encode(dict(claims, aud="otra-app"), TEST_JWT_SECRET, "HS256"),
        "anon role": jwt.encode(dict(claims, role="anon"), TEST_JWT_SECRET, "HS256"),
        "no login session": jwt.encode(
            {k: v for k, v in claims.items() if k != "session_id"}, TEST_JWT_SECRET, "HS256"
        ),
        "unknown login session": jwt.encode(
            dict(claims, session_id="00000000-0000-4000-8000-000000000002"),
            TEST_JWT_SECRET,
            "HS256",
        ),
        "not yet valid": jwt.encode(
            dict(claims, iat=claims["iat"] + 3600, nbf=claims["iat"] + 3600),
            TEST_JWT_SECRET,
            "HS256",
        ),
        "huge": "a" * 20_000,
    }


@pytest.mark.filterwarnings("ignore:The HMAC key")  # the HS512 forgery
def test_forged_tokens_are_refused_at_connect_and_at_reauthenticate(server, student):
    token = fund(server, "real@example.com")
    ana = student("real@example.com")
    for label, forged in forged_tokens(token).items():
        refused = Student(server.url, next(ADDRESSES))
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(forged)
        data = refused.wait_for("connect_error")["data"]
        expected = "INVALID_INPUT" if label == "huge" else "UNAUTHORIZED"
        assert data["code"] in (expected, "UNAUTHORIZED"), (label, data)
        refused.close()
        with ana.arrived:
            ana.events.clear()
        ana.client.emit("reauthenticate", {"token": forged})
        assert ana.wait_for("error")["code"] in ("UNAUTHORIZED", "INVALID_INPUT"), label
    assert ana.client.connected  # the real socket kept its session all along
    ana.client.emit("ask_question", {"question": LESSON["question"]})
    assert_whole_lesson(ana)
    assert_healthy(server)


def test_a_token_replayed_after_logout_is_refused(server, student):
    token = fund(server, "salida@example.com")
    ana = Student(server.url, next(ADDRESSES))
    session_id = ana.connect(token)["session_id"]
    response = requests.post(
        f"{server.url}/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        timeout=10,
    )
    assert response.status_code == 204
    ana.wait_for("session_ended")
    ana.close()
    replay = Student(server.url, next(ADDRESSES))
    with pytest.raises(socketio.exceptions.ConnectionError):
        replay.connect(token, session_id=session_id)
    assert replay.wait_for("connect_error")["data"]["code"] == "UNAUTHORIZED"
    replay.close()
    # ... and handed to a live socket of the same student, it does not extend it.
    fresh = fund(server, "salida@example.com")
    again = student("salida@example.com")
    assert fresh
    again.client.emit("reauthenticate", {"token": token})
    assert again.wait_for("error")["code"] == "UNAUTHORIZED"
    assert_healthy(server)


# -- another student's session -----------------------------------------------------------------
def test_another_students_session_id_gives_nothing_of_theirs(server, student):
    ana = student("victima@example.com")
    session_id = ana.wait_for("connection_established")["session_id"]
    ana.client.emit("ask_question", {"question": LESSON["question"]})
    ana.wait_for("feedback_request", timeout=20)
    intruder = student("intruso@example.com", session_id=session_id, last_seq=0)
    established = intruder.wait_for("connection_established")
    assert established["session_id"] != session_id and established["resumed"] is False
    time.sleep(0.3)
    assert not lesson_of(intruder), "another student's lesson was replayed"
    for event, payload in [
        ("voice_start", {"session_id": session_id}),
        ("resume_explanation", {}),
        ("submit_feedback", {"rating": 1}),
        ("step_feedback", {"step_number": 1}),
    ]:
        with intruder.arrived:
            intruder.events.clear()
        intruder.client.emit(event, payload)
        assert intruder.wait_for("error")["code"] == "INVALID_INPUT", event
    # The owner's session is untouched: still theirs, still connected, no vote of the intruder.
    assert not any(n == "session_ended" for n, _ in ana.events)
    assert server.container.sessions.get_session(session_id).connection_id == (ana.client.get_sid())
    with server.container.db.transaction() as conn:
        rated = conn.execute(
            "SELECT count(*) AS n FROM interactions i JOIN profiles p ON p.id = i.user_id"
            " WHERE p.email IN ('victima@example.com', 'intruso@example.com')"
            " AND i.rating IS NOT NULL"
        )
        assert rated.fetchone()["n"] == 0
    assert_healthy(server)


# -- injection in questions --------------------------------------------------------------------
INJECTIONS = [
    "'; DROP TABLE ai_answers; --",
    "¿Qué es una derivada?'; DELETE FROM profiles; --",
    "derivada%' OR '1'='1",
    "x_% \\ '' \"\" ; -- /* */",
    "\\input{/etc/passwd} $\\def\\x{\\x}\\x$",
    "$$\\begin{verbatim}\\end{document}\\immediate\\write18{id}$$",
    "<script>alert(1)</script> $\\href{javascript:alert(1)}{x}$",
]


@pytest.mark.parametrize("question", INJECTIONS)
def test_sql_and_latex_in_questions_are_only_text(server, student, question):
    ana = student("inyeccion@example.com")
    ana.client.emit("ask_question", {"question": question})
    ana.wait_until(lambda: any(n in ("error", "explanation_start") for n, _ in ana.events))
    refusal = errors(ana)
    # No AI in this deployment: no stored answer is AI_UNAVAILABLE, with similar questions.
    assert [e["code"] for e in refusal] == ["AI_UNAVAILABLE"], ana.events
    assert isinstance(refusal[0]["details"]["similar"], list)
    assert ana.client.connected
    with server.container.db.transaction() as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM ai_answers) AS answers,"
            " (SELECT count(*) FROM profiles) AS profiles"
        ).fetchone()
    assert counts["answers"] >= 2 and counts["profiles"] >= 1
    ana.client.emit("ask_question", {"question": LESSON["question"]})
    assert_whole_lesson(ana)
    assert_healthy(server)


def test_many_students_abusing_at_once_leave_the_bystander_whole(server, student):
    """Everything above at the same moment, from several threads."""
    bystander = student("testigo@example.com")
    bystander.client.emit("ask_question", {"question": LESSON["question"]})
    token = fund(server, "caos@example.com")
    stop = threading.Event()

    def abuse(n: int) -> None:
        one = Student(server.url, next(ADDRESSES))
        try:
            one.connect(token)
        except socketio.exceptions.ConnectionError:
            return
        try:
            while not stop.is_set():
                one.client.emit("ask_question", {"question": INJECTIONS[n % len(INJECTIONS)]})
                one.client.emit("ask_question", {"question": "z" * (MAX_MESSAGE_BYTES + 10)})
                one.client.emit("pause_explanation", [1, 2])
                one.client.emit("connect", {"token": token})
                time.sleep(0.05)
        finally:
            one.close()

    threads = [threading.Thread(target=abuse, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert_whole_lesson(bystander)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not errors(bystander)
    assert_healthy(server)
