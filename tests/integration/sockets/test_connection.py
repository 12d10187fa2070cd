"""Connecting over Socket.IO to a real server process with real python-socketio clients."""

from __future__ import annotations

import itertools
import threading

import jwt
import pytest
import requests
import socketio

from tests.conftest import TEST_JWT_SECRET
from tests.live_server import running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("sockets"),
        MAX_CONNECTIONS_PER_IP="3",
        TRUSTED_PROXIES="127.0.0.1",  # the tests play a proxy, to give each test its own address
    ) as live:
        yield live


class Student:
    """A real Socket.IO client that records every event it receives."""

    def __init__(self, url: str, client_ip: str):
        self.url = url
        self.client_ip = client_ip
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, object]] = []
        self.arrived = threading.Condition()
        self.client.on("*", self._record)
        self.client.on("connect_error", lambda data=None: self._record("connect_error", data))

    def _record(self, event, data=None):
        with self.arrived:
            self.events.append((event, data))
            self.arrived.notify_all()

    def connect(self, token: str | None, **auth):
        try:
            self._connect(token, **auth)
        except socketio.exceptions.ConnectionError as exc:
            refusal = [data for name, data in self.events if name == "connect_error"]
            raise socketio.exceptions.ConnectionError(f"{exc}: {refusal}") from exc
        return self.wait_for("connection_established")

    def _connect(self, token: str | None, **auth):
        self.client.connect(
            self.url,
            auth={"token": token, **auth} if token else auth,
            headers={"X-Forwarded-For": self.client_ip},
            transports=["websocket"],
        )

    def wait_for(self, event: str, timeout: float = 5):
        with self.arrived:
            found = self.arrived.wait_for(
                lambda: any(name == event for name, _ in self.events), timeout
            )
        assert found, f"no {event}; got {self.events}"
        return next(data for name, data in self.events if name == event)

    def wait_until(self, condition, timeout: float = 5) -> bool:
        with self.arrived:
            return self.arrived.wait_for(condition, timeout)

    def refused_with(self, token: str | None, **auth) -> dict:
        """Connect expecting a refusal; the refusal's error payload."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            self.connect(token, **auth)
        refusal = self.wait_for("connect_error")
        assert refusal["message"] == refusal["data"]["message"]
        return refusal["data"]

    def close(self):
        if self.client.connected:
            self.client.disconnect()


# A new client address for each student of the session (never one a test used before, whose
# connection slots may still be counted): 10.0.0.1, 10.0.0.2, ...
ADDRESSES = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))


def connected_students(server):
    """A factory of students with ample credits, each connected from an address of its own;
    they are closed when the test ends (use with `yield from` in a fixture)."""
    created: list[Student] = []

    def make(email: str = "ana@example.com") -> Student:
        token = server.container.dev_tokens.issue(email=email)
        with server.container.db.transaction() as conn:
            conn.execute("UPDATE profiles SET daily_limit = 100, credits_remaining = 100")
        one = Student(server.url, next(ADDRESSES))
        one.connect(token)
        created.append(one)
        return one

    yield make
    for one in created:
        one.close()


@pytest.fixture
def students(server):
    """Students of one test, all behind one address of their own (X-Forwarded-For)."""
    made: list[Student] = []
    address = next(ADDRESSES)

    def make() -> Student:
        student = Student(server.url, address)
        made.append(student)
        return student

    yield make
    for student in made:
        student.close()


def test_a_signed_in_student_gets_a_session(server, students):
    token = server.container.dev_tokens.issue(email="ana@example.com", full_name="Ana")
    established = students().connect(token)
    assert established["resumed"] is False
    assert established["user_info"]["email"] == "ana@example.com"
    state = server.container.sessions.get_session(established["session_id"])
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    assert state.user_id == user_id and state.connection_id


@pytest.mark.parametrize("token", [None, "garbage", "a.b.c"])
def test_connections_without_a_valid_token_are_refused(server, students, token):
    assert students().refused_with(token)["code"] == "UNAUTHORIZED"


def test_expired_token_is_refused(server, students):
    token = server.container.dev_tokens.issue(email="ana@example.com")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(iat=claims["iat"] - 7200, exp=claims["iat"] - 3600)
    refusal = students().refused_with(jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256"))
    assert refusal["code"] == "UNAUTHORIZED" and "expiró" in refusal["message"]


def test_a_student_resumes_their_own_session_but_not_someone_elses(server, students):
    ana = server.container.dev_tokens.issue(email="ana@example.com")
    ben = server.container.dev_tokens.issue(email="ben@example.com")
    first = students()
    session_id = first.connect(ana)["session_id"]
    first.close()
    again = students().connect(ana, session_id=session_id)
    assert again == {**again, "session_id": session_id, "resumed": True}
    stolen = students().connect(ben, session_id=session_id)
    assert stolen["session_id"] != session_id and stolen["resumed"] is False
    stolen_client = students()
    stolen_client.close()
    for bogus in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", 42):
        student = students()
        assert student.connect(ben, session_id=bogus)["resumed"] is False
        student.close()


def test_a_session_resumed_elsewhere_ends_its_older_socket(server, students):
    ana = server.container.dev_tokens.issue(email="tabs@example.com")
    first, second = students(), students()
    session_id = first.connect(ana)["session_id"]
    assert second.connect(ana, session_id=session_id)["resumed"] is True
    ended = first.wait_for("session_ended")
    assert ended == {"reason": "replaced", "message": ended["message"]} and ended["message"]
    assert first.wait_until(lambda: not first.client.connected)
    # The newer socket keeps the session: its disconnect was not the session's.
    state = server.container.sessions.get_session(session_id)
    assert state.connection_id == second.client.get_sid()
    assert not any(name == "session_ended" for name, _ in second.events)


def test_connections_per_address_are_limited_and_released(server, students):
    token = server.container.dev_tokens.issue(email="many@example.com")
    held = [students() for _ in range(3)]
    for student in held:
        student.connect(token)
    assert students().refused_with(token)["code"] == "TOO_MANY_CONNECTIONS"
    held[0].close()  # the slot is released on disconnect
    for _ in range(50):
        try:
            students().connect(token)
            break
        except socketio.exceptions.ConnectionError:
            threading.Event().wait(0.1)
    else:
        pytest.fail("the slot of a closed connection was not released")


def test_logout_over_http_ends_the_live_socket(server, students):
    token = server.container.dev_tokens.issue(email="out@example.com")
    student = students()
    student.connect(token)
    response = requests.post(
        f"{server.url}/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        timeout=10,
    )
    assert response.status_code == 204
    ended = student.wait_for("session_ended")
    assert ended["reason"] == "logout"
    for _ in range(50):
        if not student.client.connected:
            break
        threading.Event().wait(0.1)
    assert not student.client.connected


def test_a_fresh_token_keeps_the_socket_and_only_the_same_student_may_give_it(server, students):
    token = server.container.dev_tokens.issue(email="long@example.com")
    student = students()
    student.connect(token)
    fresh = server.container.dev_tokens.issue(email="long@example.com", ttl_seconds=7200)
    student.client.emit("reauthenticate", {"token": fresh})
    assert student.wait_for("reauthenticated")["token_expires_at"] > 0
    other = server.container.dev_tokens.issue(email="otra@example.com")
    student.client.emit("reauthenticate", {"token": other})
    assert student.wait_for("error")["code"] == "UNAUTHORIZED"
    student.events.clear()
    student.client.emit("reauthenticate", "not an object")
    assert student.wait_for("error")["code"] == "INVALID_INPUT"
    assert student.client.connected
