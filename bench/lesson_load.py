"""Load benchmark for live lessons: many students connected over real Socket.IO websockets.

Three scenarios against a running server (`make run`, or any URL with local auth):

- `ask`: N students connected; `--lessons` of them ask a short cached answer, spread over
  `--ramp` seconds → ask → `explanation_start` latency (p50/p99) with N connected.
- `cadence`: every student asks a long cached answer within `--ramp` seconds, so that all their
  lessons stream at once → typewriter cadence jitter: how far the gap between consecutive
  `content_chunk`s of a step strays from STREAM_CHUNK_INTERVAL_MS (p50/p99), and how many
  lessons were streaming at the same time.
- `classroom`: every student stays in lessons for `--duration` seconds (ask the long lesson,
  follow it to the end, pause `--think` seconds, ask again) → ask latency p50/p95/p99, chunk
  jitter, CPU and RSS of each server process sampled every `--sample` seconds (memory flat or
  not over a soak), per-lesson figures, errors by code; JSON under bench/results/ and a PNG
  (`bench/load_report.py`).

`--sigterm-at SECONDS` (with `--deploy 2` or more) stops one gunicorn process gracefully that
many seconds into the lessons: its students reconnect as the page does (session_id, last_seq,
backoff) and every lesson is checked whole (README, "A process stopped under load").

`--deploy K` starts the production shape first (bench/deployment.py: K gunicorn processes with
the Dockerfile's command line behind HAProxy, Redis message queue, the `pizarra_bench`
database and Redis database 9) and loads it through HAProxy; it is stopped at the end.

With `--server-pid`, the server's CPU use over the run is reported too. Each student is a
websocket speaking the Socket.IO protocol as a browser does (connect with a token, events,
pings), run as greenlets in several client processes and reading only each event's name, so
that the load generator is not the bottleneck it would be with a client library that decodes
and dispatches every event on its own thread.

    .venv/bin/python bench/lesson_load.py --scenario ask --students 1000 --lessons 300 --ramp 30
    .venv/bin/python bench/lesson_load.py --scenario cadence --students 1000 --ramp 5
    .venv/bin/python bench/lesson_load.py --deploy 2 --scenario classroom --students 300 \
        --ramp 20 --duration 600 --slice 30 --plot docs/bench-soak-300-600s.png

It creates bench users (bench-N@example.com) with ample credits in the configured database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "¿Qué es una derivada?"
LONG_QUESTION = "Lección larga de prueba de carga sobre funciones lineales"
SENTENCE = (
    "Una función lineal $f(x)=mx+b$ crece a ritmo constante: cada vez que $x$ aumenta una "
    "unidad, el valor de la función cambia exactamente $m$ unidades. "
)


def long_answer() -> dict:
    """A cached lesson long enough (4 steps of ~560 characters) that lessons asked within a few
    seconds of each other all stream at once."""
    return {
        "question": LONG_QUESTION,
        "subject": "algebra",
        "steps": [
            {
                "title": f"Parte {n}",
                "content": SENTENCE * 4,
                "canvas": [{"type": "text", "x": 100, "y": 100 + 40 * n, "text": "f(x)", "at": 60}],
            }
            for n in range(1, 5)
        ],
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepare_tokens(count: int) -> tuple[list[str], str]:
    """Bench users with ample credits, the fixture answer imported and cached."""
    sys.path.insert(0, str(ROOT))
    from app import resolve_backing_services
    from app.config import load_settings
    from app.container import build_container

    settings, _ = resolve_backing_services(load_settings())
    container = build_container(settings)
    answers = json.loads((ROOT / "tests" / "fixtures" / "answers.json").read_text())
    container.answers.import_answers([*answers, long_answer()])
    tokens = [
        container.dev_tokens.issue(email=f"bench-{i}@example.com", ttl_seconds=7200)
        for i in range(count)
    ]
    with container.db.transaction() as conn:
        conn.execute(
            "UPDATE profiles SET credits_remaining = 100000, daily_limit = 100000 "
            "WHERE email LIKE 'bench-%%@example.com'"
        )
    interval = settings.stream_chunk_interval_ms
    container.close()
    return tokens, str(interval)


class HandshakeRefused(ConnectionError):
    """The server (or the balancer) answered the websocket handshake with an HTTP error, e.g.
    503 from a process that is stopping: a network error to a Socket.IO client, retried."""

    def __init__(self, status: int, server: str | None = None):
        super().__init__(f"HTTP {status}")
        self.status, self.server = status, server


class ConnectRefused(ConnectionRefusedError):
    """The server refused the Socket.IO connect (`connect_error`): str() is its code."""

    def __init__(self, code: str, message: object = None):
        super().__init__(code)
        self.code, self.message = code, message

    def __str__(self) -> str:
        return self.code


class LeanStudent:
    """One student speaking the Engine.IO 4 / Socket.IO 5 wire protocol over a bare websocket:
    the same frames a browser's socket.io-client exchanges, with none of the client library's
    per-event work (a thread or greenlet per event, full JSON decoding), so that the load
    generator does not need more CPU than the server it measures. Only the event name is read
    from each frame; the bench's timings are taken on arrival.

    `auth` is the connect payload ({token, session_id?, last_seq?}: the page sends its session
    and the last `seq` it saw when it reconnects). `server` is the process HAProxy chose, from
    its cookie on the handshake's response (None without HAProxy)."""

    def __init__(self, url: str, token: str | None = None, *, auth: dict | None = None):
        import websocket  # websocket-client (requirements-dev)

        host = url.split("://", 1)[1].rstrip("/")
        self.ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
        try:
            self.ws.connect(f"ws://{host}/socket.io/?EIO=4&transport=websocket", timeout=30)
        except websocket.WebSocketBadStatusException as exc:
            raise HandshakeRefused(exc.status_code, server_of(exc.resp_headers)) from None
        self.server = server_of(self.ws.getheaders())
        opening = self.ws.recv()  # 0{"sid":...,"pingInterval":...}
        if not opening.startswith("0"):
            raise ConnectionError(f"unexpected opening frame {opening[:80]!r} ({self.server})")
        self.ws.send("40" + json.dumps(auth if auth is not None else {"token": token}))
        # What the server's connect handler emits (connection_established, the replay of the
        # missed lesson events) can arrive before the CONNECT packet: kept for events().
        self.early: list[str] = []
        while True:
            reply = self.ws.recv()
            if reply.startswith("40"):
                break
            if reply.startswith("42"):
                self.early.append(reply)
            if reply.startswith("44"):  # connect_error {message, data: {code}}
                data = json.loads(reply[2:]).get("data") or {}
                raise ConnectRefused(str(data.get("code") or reply[2:80]), data.get("message"))
            if reply == "2":
                self.ws.send("3")
        self.ws.settimeout(None)

    def emit(self, event: str, payload: dict) -> None:
        self.ws.send("42" + json.dumps([event, payload], ensure_ascii=False))

    def events(self):
        """(event name, raw frame) as they arrive, answering the server's pings."""
        while True:
            frame = self.early.pop(0) if self.early else self.ws.recv()
            if not frame:
                return
            if frame == "2":
                self.ws.send("3")
            elif frame.startswith('42["'):
                yield frame[4 : frame.index('"', 4)], frame
            elif frame.startswith("1"):  # the server closed the session
                return

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing anyway
            self.ws.send("41")
            self.ws.close()


def server_of(headers: dict | None) -> str | None:
    """The process HAProxy sent a request to, from its cookie (bench/deployment.py)."""
    cookie = (headers or {}).get("set-cookie") or ""
    return (
        cookie.split("pizarra_worker=", 1)[1].split(";")[0] if "pizarra_worker=" in cookie else None
    )


def frame_seq(frame: str) -> int | None:
    """The `seq` of a lesson event's frame, read without decoding it (it is the payload's last
    field, as the server writes it: `..."seq":N}]`, or `"seq": N` once replayed)."""
    at = frame.rfind('"seq":')
    if at < 0:
        return None
    digits = frame[at + 6 :].lstrip(" ")
    end = 0
    while end < len(digits) and digits[end].isdigit():
        end += 1
    return int(digits[:end]) if end else None


def run_clients(args: tuple) -> dict:
    url, tokens, lessons_here, hold_seconds, start_at, ramp, question, window, spread = args
    process, processes, asking = spread
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import gevent.event

    latencies: list[float] = []
    gaps: list[float] = []
    errors: list[str] = []
    spans: list[tuple[float, float]] = []  # (first event, completion), wall clock
    connected = 0
    in_window = 0  # events received while the server's CPU is sampled
    steady_gaps: list[float] = []  # the chunk gaps within that window

    def listen(client: LeanStudent, state: dict, done: gevent.event.Event) -> None:
        nonlocal in_window
        try:
            for event, frame in client.events():
                now = time.perf_counter()
                if window[0] <= time.time() < window[1]:
                    in_window += 1
                if event == "content_chunk":
                    if state["last_chunk"] is not None:
                        gaps.append((now - state["last_chunk"]) * 1000)
                        if window[0] <= time.time() < window[1]:
                            steady_gaps.append(gaps[-1])
                    state["last_chunk"] = now
                elif event == "step_start":
                    state["last_chunk"] = None  # gaps are measured within a step
                elif event == "explanation_start":
                    latencies.append((now - state["asked"]) * 1000)
                    state["began"] = time.time()
                elif event == "explanation_complete":
                    spans.append((state.get("began", time.time()), time.time()))
                    done.set()
                elif event == "error":
                    code = json.loads(frame[2:])[1].get("code")
                    errors.append(str(code))
                    done.set()
        except Exception:  # noqa: BLE001 - the socket closed at the end of the run
            done.set()

    def student(index: int, token: str) -> None:
        nonlocal connected
        try:
            client = LeanStudent(url, token)
        except ConnectionRefusedError as exc:
            errors.append(f"connect refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - counted, the bench goes on
            errors.append(f"connect: {exc}")
            return
        connected += 1
        state: dict = {"asked": 0.0, "last_chunk": None}
        done = gevent.event.Event()
        listener = gevent.spawn(listen, client, state, done)
        # Questions arrive spread over the ramp, as students do, not all in one instant.
        # The asking students of all client processes take turns, evenly over the ramp.
        turn = index * processes + process
        gevent.sleep(max(0.0, start_at - time.time()) + ramp * turn / max(1, asking))
        if index < lessons_here:
            state["asked"] = time.perf_counter()
            client.emit("ask_question", {"question": question})
            done.wait(120)
        gevent.sleep(max(0.0, start_at + hold_seconds - time.time()))
        client.close()
        listener.kill()

    greenlets = [gevent.spawn(student, i, token) for i, token in enumerate(tokens)]
    gevent.joinall(greenlets, timeout=hold_seconds + 180)
    return {
        "latencies": latencies,
        "gaps": gaps,
        "errors": errors,
        "connected": connected,
        "spans": spans,
        "in_window": in_window,
        "steady_gaps": steady_gaps,
    }


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc), summed."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def sample_cpu(pids: list[int], window: tuple[float, float], out: list[float]) -> None:
    """The processes' CPU seconds at the start and the end of the window."""
    for moment in window:
        time.sleep(max(0.0, moment - time.time()))
        out.append(cpu_seconds(pids))


JITTER_BIN_MS = 0.1  # resolution of the classroom scenario's jitter histograms


# The page's socket.io-client reconnects after reconnectionDelay 500 ms, doubling up to
# reconnectionDelayMax 5000 ms, each delay randomized by ±50% (web/src/lib/classroom.js).
RECONNECT_DELAY_S = (0.5, 5.0)
# A lesson with no event for this long while the run goes on has stalled (chunks come every
# STREAM_CHUNK_INTERVAL_MS while it streams).
STALLED_AFTER_S = 10.0
# After a reconnection, how long a student whose question had no `explanation_start` yet waits
# for it (replayed or live) before taking the question for lost and asking again.
ASK_AGAIN_AFTER_S = 5.0


def check_lesson(lesson: dict, expected: list[str]) -> tuple[str, str]:
    """(status, reason) of one lesson as a student received it (events each seq once): `whole`
    when complete with each step's text, in seq order, exactly the step's content (no gap, no
    repeat), each step announced once and drawn once; `unfinished` when the run ended while it
    streamed and what arrived is a whole prefix; `broken` otherwise (and `stalled` when it
    stopped receiving events long before the run ended)."""
    texts: dict[int, str] = {}
    for _seq, step, chunk, position in sorted(lesson["chunks"]):
        texts[step] = texts.get(step, "") + chunk
        if position != len(texts[step]):
            return "broken", f"step {step}: chunk ends at {position}, text at {len(texts[step])}"
    starts = lesson["step_starts"]
    if starts != sorted(set(starts)):
        return "broken", f"step_start repeated or out of order: {starts}"
    if lesson["error"]:
        return "broken", f"error {lesson['error']}"
    steps = range(1, len(expected) + 1)
    if lesson["complete"]:
        if starts != list(steps):
            return "broken", f"steps announced {starts}"
        for n in steps:
            if texts.get(n) != expected[n - 1]:
                got = texts.get(n, "")
                return "broken", f"step {n}: {len(got)} of {len(expected[n - 1])} characters"
        if lesson["canvas"] != len(expected):
            return "broken", f"{lesson['canvas']} drawings for {len(expected)} steps"
        return "whole", ""
    last = max(texts, default=0)
    for n in range(1, last + 1):
        text, want = texts.get(n, ""), expected[n - 1]
        if (n < last and text != want) or not want.startswith(text):
            return "broken", f"step {n}: not a prefix ({len(text)} characters)"
    if lesson["stalled"]:
        got, whole = sum(map(len, texts.values())), sum(map(len, expected))
        return "stalled", (
            f"no event for {STALLED_AFTER_S:.0f} s before the run ended, at step {last}:"
            f" {got} of {whole} characters"
        )
    return "unfinished", ""


def run_classroom(args: tuple) -> dict:
    """One client process of the classroom scenario: its students stay in lessons until `end`,
    each asking the long lesson, following it to `explanation_complete`, pausing `think`
    seconds (±50%), and asking again.

    A dropped socket is reconnected as the page does it: after a randomized, doubling delay,
    with `auth: {token, session_id, last_seq}`, retried on 503, refusal or any network error;
    events whose seq was already seen are dropped; the lesson goes on by itself. Each drop is
    recorded (the process it was on, when it dropped, reconnected and got its first new event).

    With `verify`, every lesson event is decoded and each lesson checked once the run ends
    (`check_lesson`). Figures are kept per time slice (`slice_s` seconds from `start_at`) so
    that a long run shows drift: ask latencies as (t, ms), chunk jitter as histograms of 0.1 ms
    bins."""
    url, tokens, start_at, ramp, end, think, slice_s, interval, spread, verify = args
    process, processes, total = spread
    from gevent import monkey

    monkey.patch_all()
    import random

    import gevent
    import gevent.event

    # Each step's text as the server stores it (AnswerStep strips surrounding whitespace).
    expected = [step["content"].strip() for step in long_answer()["steps"]]
    latencies: list[tuple[float, float]] = []
    jitter: dict[int, dict[int, int]] = {}  # slice -> {bin: count}
    events: dict[int, int] = {}  # slice -> events received
    errors: dict[str, int] = {}
    retries: dict[str, int] = {}  # failed reconnection attempts, by cause (retried)
    spans: list[tuple[float, float]] = []  # (explanation_start, explanation_complete)
    drops: list[dict] = []
    learners: list[dict] = []
    counts = {"connects": 0, "reconnects": 0, "duplicates": 0, "asks_again": 0}

    def count(table: dict, key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def listen(client: LeanStudent, st: dict) -> None:
        try:
            for event, frame in client.events():
                now = time.perf_counter()
                moment = time.time()
                payload = None
                if event == "connection_established":
                    established = json.loads(frame[2:])[1]
                    st["session_id"] = established["session_id"]
                    if st["drop"] is not None:
                        st["drop"].setdefault("resumed", established["resumed"])
                        st["drop"].setdefault("session_after", established["session_id"])
                    continue
                if verify:
                    payload = json.loads(frame[2:])[1]
                    seq = payload.get("seq")
                else:
                    seq = frame_seq(frame)
                if seq is not None:
                    if seq in st["seen"]:  # replayed and live, or replayed twice: once only
                        counts["duplicates"] += 1
                        continue
                    st["seen"].add(seq)
                    st["last_seq"] = max(st["last_seq"], seq)
                    drop = st["drop"]
                    if drop is not None and "first_event_at" not in drop:
                        drop["first_event_at"] = moment
                        drop["first_event"] = event
                bucket = int((moment - start_at) // slice_s)
                events[bucket] = events.get(bucket, 0) + 1
                lesson = None
                if verify and payload.get("explanation_id"):
                    lesson = st["lessons"].get(payload["explanation_id"])
                    if lesson is None and event == "explanation_start":
                        lesson = st["lessons"][payload["explanation_id"]] = {
                            "chunks": [],
                            "step_starts": [],
                            "canvas": 0,
                            "complete": False,
                            "error": None,
                            "cut": False,
                            "began": moment,
                            "last_event": moment,
                        }
                    if lesson is not None:
                        lesson["last_event"] = moment
                if event == "content_chunk":
                    if st["last_chunk"] is not None:
                        gap = (now - st["last_chunk"]) * 1000
                        hist = jitter.setdefault(bucket, {})
                        key = round(abs(gap - interval) / JITTER_BIN_MS)
                        hist[key] = hist.get(key, 0) + 1
                    st["last_chunk"] = now
                    if lesson is not None:
                        lesson["chunks"].append(
                            (seq, payload["step_number"], payload["chunk"], payload["position"])
                        )
                elif event == "step_start":
                    st["last_chunk"] = None  # gaps are measured within a step
                    if lesson is not None:
                        lesson["step_starts"].append(payload["step_number"])
                elif event == "canvas_command":
                    if lesson is not None:
                        lesson["canvas"] += 1
                elif event == "explanation_start":
                    st["started"].set()
                    st["in_lesson"] = True
                    if st["asked_on"] == st["connection"]:  # not a start replayed after a cut
                        latencies.append((moment - start_at, (now - st["asked"]) * 1000))
                    st["began"] = moment
                elif event == "explanation_resumed":
                    st["last_chunk"] = None
                    st["paused_seq"] = None
                    if st["drop"] is not None:
                        st["drop"].setdefault("resumed_at", moment)
                elif event == "explanation_paused":
                    # These students never pause: the server paused it (a lesson that began on
                    # a stopping process). As the page does, resume it unless the replay goes on
                    # past the pause.
                    st["paused_seq"] = seq

                    def resume_if_still_paused(paused_seq: int | None = seq) -> None:
                        if st["paused_seq"] == paused_seq and not st["closed"]:
                            with contextlib.suppress(Exception):
                                client.emit("resume_explanation", {})

                    gevent.spawn_later(0.4, resume_if_still_paused)
                elif event == "explanation_complete":
                    st["paused_seq"] = None
                    spans.append((st.get("began", moment), moment))
                    st["in_lesson"] = False
                    if lesson is not None:
                        lesson["complete"] = True
                    st["wake"].set()
                elif event == "error":
                    body = payload if payload is not None else json.loads(frame[2:])[1]
                    count(errors, str(body.get("code")))
                    if lesson is not None:
                        lesson["error"] = body.get("code")
                    st["in_lesson"] = False
                    st["started"].set()
                    st["wake"].set()
        except Exception:  # noqa: BLE001, S110 - a socket closed under us: the student reconnects
            pass
        finally:
            if not st["closed"]:
                st["closed"] = True
                st["closed_at"] = time.time()
            st["wake"].set()

    def connect(st: dict, again: bool) -> LeanStudent | None:
        attempt = 0
        while time.time() < end:
            if again:  # as socket.io-client: a randomized, doubling delay before each try
                low, high = RECONNECT_DELAY_S
                gevent.sleep(min(high, low * 2**attempt) * (0.5 + random.random()))
            auth: dict = {"token": st["token"]}
            if st["session_id"]:
                auth |= {"session_id": st["session_id"], "last_seq": st["last_seq"]}
            try:
                client = LeanStudent(url, auth=auth)
                counts["connects"] += 1
                return client
            except HandshakeRefused as exc:
                cause = f"handshake HTTP {exc.status} ({exc.server or 'no cookie'})"
            except ConnectionRefusedError as exc:
                cause = f"connect refused: {exc}"
            except Exception as exc:  # noqa: BLE001 - counted, retried
                cause = f"connect: {type(exc).__name__}: {str(exc)[:48]}"
            if again:
                count(retries, cause)
            else:
                count(errors, cause)
                gevent.sleep(1 + random.random())
            attempt += 1
        return None

    def reconnect(st: dict, client: LeanStudent) -> LeanStudent | None:
        """The socket dropped: record it, reconnect with the session and the last seq."""
        in_flight = [
            lesson
            for lesson in st["lessons"].values()
            if not (lesson["complete"] or lesson["error"])
        ]
        for lesson in in_flight:
            lesson["cut"] = True
        drop = {
            "student": st["index"],
            "server": client.server,
            "at": st["closed_at"],
            "in_lesson": st["in_lesson"],
            "session_id": st["session_id"],
            "last_seq": st["last_seq"],
            "asked_unanswered": st["asked_on"] >= 0 and not st["started"].is_set(),
        }
        drops.append(drop)
        st["drop"] = drop
        client.close()
        client = connect(st, again=True)
        if client is None:
            return None
        counts["reconnects"] += 1
        drop["reconnected_at"] = time.time()
        drop["server_after"] = client.server
        st["connection"] += 1
        st["closed"] = False
        st["last_chunk"] = None
        st["wake"].clear()
        st["listener"] = gevent.spawn(listen, client, st)
        if st["paused_seq"] is not None:
            # As the page does after reconnecting: a lesson left paused, not by the student
            # (one that began on the stopping process), is resumed once the replay is in.
            paused_seq, again = st["paused_seq"], client

            def resume_after_replay() -> None:
                if st["paused_seq"] == paused_seq and not st["closed"]:
                    drop["resumed_a_paused_lesson"] = True
                    with contextlib.suppress(Exception):
                        again.emit("resume_explanation", {})

            gevent.spawn_later(0.4, resume_after_replay)
        asked = st["asked_on"] >= 0
        if asked and not st["started"].is_set() and not st["started"].wait(ASK_AGAIN_AFTER_S):
            # The question went with the connection, unanswered: the student asks again.
            counts["asks_again"] += 1
            drop["asked_again"] = True
            ask(st, client)
        return client

    def ask(st: dict, client: LeanStudent) -> None:
        st["started"].clear()
        st["asked"] = time.perf_counter()
        st["asked_on"] = st["connection"]
        with contextlib.suppress(Exception):  # a socket gone: found by the listener
            client.emit("ask_question", {"question": LONG_QUESTION})

    def student(index: int, token: str) -> None:
        st: dict = {
            "index": index * processes + process,
            "token": token,
            "session_id": None,
            "last_seq": 0,
            "seen": set(),
            "lessons": {},
            "drop": None,
            "closed": False,
            "closed_at": None,
            "connection": 0,
            "asked_on": -1,
            "asked": 0.0,
            "in_lesson": False,
            "last_chunk": None,
            "paused_seq": None,
            "wake": gevent.event.Event(),
            "started": gevent.event.Event(),
        }
        learners.append(st)
        client = connect(st, again=False)
        if client is None:
            return
        st["listener"] = gevent.spawn(listen, client, st)
        turn = index * processes + process
        gevent.sleep(max(0.0, start_at - time.time()) + ramp * turn / max(1, total))
        while client is not None and time.time() < end:
            if st["closed"]:
                client = reconnect(st, client)
                continue
            st["wake"].clear()
            ask(st, client)
            while client is not None and time.time() < end:
                woke = st["wake"].wait(max(0.0, min(end - time.time(), 120)))
                if st["closed"]:
                    if time.time() < end:
                        client = reconnect(st, client)
                    continue
                if not woke:
                    if time.time() < end:
                        count(errors, "no explanation_complete within 120 s")
                    break
                if not st["in_lesson"]:  # complete, or an error
                    break
                st["wake"].clear()
            # Thinking before the next question (a dropped socket is reconnected at once).
            pause = think * (0.5 + random.random())
            resume_at = time.time() + pause
            while client is not None and time.time() < min(end, resume_at):
                st["wake"].clear()
                if st["closed"]:
                    client = reconnect(st, client)
                    continue
                st["wake"].wait(max(0.0, min(end, resume_at) - time.time()))
        if client is not None:
            st["listener"].kill()
            client.close()

    greenlets = [gevent.spawn(student, i, token) for i, token in enumerate(tokens)]
    gevent.joinall(greenlets, timeout=max(0.0, end - time.time()) + 180)
    lessons: dict[str, int] = {}
    lessons_cut: dict[str, int] = {}
    broken: list[dict] = []
    if verify:
        for st in learners:
            for explanation_id, lesson in st["lessons"].items():
                lesson["stalled"] = lesson["last_event"] < end - STALLED_AFTER_S
                status, reason = check_lesson(lesson, expected)
                count(lessons, status)
                if lesson["cut"]:
                    count(lessons_cut, status)
                if status in ("broken", "stalled"):
                    broken.append(
                        {
                            "student": st["index"],
                            "explanation_id": explanation_id,
                            "status": status,
                            "reason": reason,
                            "cut": lesson["cut"],
                            "began": lesson["began"],
                            "last_event": lesson["last_event"],
                            "chunks": len(lesson["chunks"]),
                        }
                    )
    return {
        "latencies": latencies,
        "jitter": jitter,
        "events": events,
        "errors": errors,
        "spans": spans,
        "connects": counts["connects"] - counts["reconnects"],
        "reconnects": counts["reconnects"],
        "duplicates_dropped": counts["duplicates"],
        "asks_again": counts["asks_again"],
        "retries": retries,
        "drops": drops,
        "lessons": lessons,
        "lessons_cut": lessons_cut,
        "broken": broken,
    }


class ProcessStopper(threading.Thread):
    """At `at` (wall clock), stop the deployment's `index`-th gunicorn process gracefully
    (SIGTERM to its master) and wait for it to exit; `result` says how it went, with HAProxy's
    sessions per server just before the signal and the stopped process's log lines about it."""

    def __init__(self, deployment, index: int, at: float):
        super().__init__(daemon=True)
        self.deployment, self.index, self.at = deployment, index, at
        self.result: dict = {}

    def run(self) -> None:
        time.sleep(max(0.0, self.at - time.time()))
        before = None
        with contextlib.suppress(OSError, ValueError):
            before = self.deployment.sessions_per_server()
        name = self.deployment.server_name(self.index)
        print(f"SIGTERM to gunicorn process {name} (sessions {before})", flush=True)
        self.result = self.deployment.stop_process(self.index)
        self.result["sessions_before"] = before
        time.sleep(1.0)
        with contextlib.suppress(OSError, ValueError):
            self.result["sessions_after"] = self.deployment.sessions_per_server()
        tail = self.deployment.log_tail(self.index, 20000).splitlines()
        keys = ("drained", "signal", "Worker", "worker", "Shutting down", "Traceback", "ERROR")
        self.result["log"] = [line for line in tail if any(k in line for k in keys)][-12:]
        print(
            f"{name} exited with {self.result['exit_code']} after"
            f" {self.result['seconds_to_exit']:.1f} s",
            flush=True,
        )


def classroom(args: argparse.Namespace, url: str, deployment) -> int:
    """The classroom scenario: students in lessons for `--duration` seconds, the deployment's
    processes sampled meanwhile; a summary printed, JSON and a PNG written."""
    import load_report

    print(f"preparing {args.students} bench users...", flush=True)
    tokens, interval = prepare_tokens(args.students)
    start_at = time.time() + args.settle
    end = start_at + args.ramp + args.duration
    shares = [tokens[i :: args.processes] for i in range(args.processes)]
    jobs = [
        (
            url,
            share,
            start_at,
            args.ramp,
            end,
            args.think,
            args.slice,
            float(interval),
            (process, args.processes, args.students),
            args.verify or args.sigterm_at is not None,
        )
        for process, share in enumerate(shares)
    ]
    stopper = None
    if args.sigterm_at is not None:
        if deployment is None or len(deployment.masters) < 2:
            print("--sigterm-at needs --deploy 2 or more", file=sys.stderr)
            return 2
        stopper = ProcessStopper(deployment, args.sigterm_worker - 1, start_at + args.sigterm_at)
        stopper.start()
    sampler = load_report.Sampler(
        deployment=deployment,
        server_pids=args.server_pid or [],
        every=args.sample,
        start_at=start_at,
    )
    sampler.start()
    print(
        f"{args.students} students from {args.processes} processes, in lessons for"
        f" {args.ramp + args.duration:.0f} s (first asks over {args.ramp:.0f} s),"
        f" chunks every {interval} ms",
        flush=True,
    )
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = pool.map(run_classroom, jobs)
    sampler.stop()
    if stopper is not None:
        stopper.join()
    report = load_report.summarize(
        args=args,
        results=results,
        samples=sampler.samples,
        start_at=start_at,
        interval=float(interval),
        jitter_bin_ms=JITTER_BIN_MS,
        deployment=deployment,
    )
    if stopper is not None:
        report["restart"] = load_report.summarize_restart(
            results=results, stopped=stopper.result, start_at=start_at, end=end
        )
    load_report.print_summary(report)
    out = load_report.write(report, args.out)
    print(f"results: {out}")
    if args.plot:
        load_report.plot(report, args.plot)
        print(f"plot: {args.plot}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--scenario", choices=("ask", "cadence", "classroom"), default="ask")
    parser.add_argument(
        "--deploy",
        type=int,
        metavar="K",
        help="start K gunicorn processes behind HAProxy (bench/deployment.py) and load them",
    )
    parser.add_argument(
        "--server-pid", type=int, action="append", help="report this process's CPU use"
    )
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--lessons", type=int, help="students who ask (default: all of them)")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to connect everyone")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which they ask")
    parser.add_argument(
        "--window", type=float, default=8.0, help="seconds of steady streaming to sample CPU"
    )
    parser.add_argument(
        "--gunicorn-config",
        type=Path,
        help="with --deploy: this gunicorn config instead of the Dockerfile's (an A/B)",
    )
    parser.add_argument("--log-dir", type=Path, help="with --deploy: keep the processes' logs")
    classroom_options = parser.add_argument_group("classroom scenario")
    classroom_options.add_argument(
        "--duration", type=float, default=60.0, help="seconds in lessons after the ramp"
    )
    classroom_options.add_argument(
        "--think", type=float, default=3.0, help="mean seconds between a lesson and the next"
    )
    classroom_options.add_argument(
        "--sample", type=float, default=5.0, help="seconds between CPU/RSS samples"
    )
    classroom_options.add_argument(
        "--slice", type=float, default=10.0, help="seconds per time slice of the figures"
    )
    classroom_options.add_argument(
        "--sigterm-at",
        type=float,
        metavar="SECONDS",
        help="with --deploy 2+: SIGTERM one gunicorn process this many seconds into the lessons"
        " (a graceful stop under load); its students reconnect and every lesson is verified",
    )
    classroom_options.add_argument(
        "--sigterm-worker", type=int, default=1, help="which gunicorn process to stop (from 1)"
    )
    classroom_options.add_argument(
        "--verify",
        action="store_true",
        help="decode every lesson event and check each lesson's text (on with --sigterm-at)",
    )
    classroom_options.add_argument("--out", type=Path, help="JSON results (bench/results/...)")
    classroom_options.add_argument("--plot", type=Path, help="PNG of the figures over time")
    classroom_options.add_argument("--label", help="a name for this run in its results")
    args = parser.parse_args()
    if args.deploy:
        return with_deployment(args)
    if args.scenario == "classroom":
        return classroom(args, args.url, None)
    return single_run(args, args.url, args.server_pid or [])


def with_deployment(args: argparse.Namespace) -> int:
    from deployment import Deployment, DeploymentError, missing_tools, stop_on_sigterm

    problems = missing_tools()
    if problems:
        print("cannot start the deployment:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    stop_on_sigterm()
    settings = {
        "MAX_CONNECTIONS_PER_IP": "10000",  # every bench student comes from 127.0.0.1
        "STREAM_CHUNK_INTERVAL_MS": os.environ.get("STREAM_CHUNK_INTERVAL_MS", "100"),
    }
    if args.sigterm_at is not None:
        settings["LOG_LEVEL"] = "INFO"  # the stopped process logs what its drain did
    print(f"starting {args.deploy} gunicorn workers behind HAProxy...", flush=True)
    try:
        with Deployment(
            workers=args.deploy,
            settings=settings,
            gunicorn_config=args.gunicorn_config,
            log_dir=args.log_dir,
        ) as deployment:
            # The load generator signs tokens for, and prepares, the deployment's database.
            os.environ.update(deployment.environment())
            pids = deployment.worker_pids()
            print(f"deployment ready on {deployment.url}: workers {pids}", flush=True)
            if args.scenario == "classroom":
                return classroom(args, deployment.url, deployment)
            return single_run(args, deployment.url, pids)
    except DeploymentError as exc:
        print(f"deployment failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: deployment stopped", file=sys.stderr)
        return 130


def single_run(args: argparse.Namespace, url: str, server_pids: list[int]) -> int:
    lessons = args.students if args.lessons is None else min(args.lessons, args.students)
    question = QUESTION if args.scenario == "ask" else LONG_QUESTION

    print(f"preparing {args.students} bench users...", flush=True)
    tokens, interval = prepare_tokens(args.students)
    start_at = time.time() + args.settle
    shares = [tokens[i :: args.processes] for i in range(args.processes)]
    lesson_shares = [len(range(i, lessons, args.processes)) for i in range(args.processes)]
    hold = args.ramp + (30.0 if args.scenario == "ask" else 60.0)
    # The server's CPU is sampled over a steady window: every lesson asked, none finished yet.
    window = (start_at + args.ramp + 1.0, start_at + args.ramp + 1.0 + args.window)
    jobs = [
        (
            url,
            share,
            asked,
            hold,
            start_at,
            args.ramp,
            question,
            window,
            (process, args.processes, lessons),
        )
        for process, (share, asked) in enumerate(zip(shares, lesson_shares, strict=True))
    ]
    print(f"connecting {args.students} students from {args.processes} processes...", flush=True)
    cpu_before = cpu_seconds(server_pids) if server_pids else 0.0
    wall_before = time.time()
    sampled: list[float] = []
    if server_pids:
        threading.Thread(
            target=sample_cpu, args=(server_pids, window, sampled), daemon=True
        ).start()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = pool.map(run_clients, jobs)
    spans = [span for r in results for span in r["spans"]]

    latencies = [v for r in results for v in r["latencies"]]
    gaps = [v for r in results for v in r["gaps"]]
    jitter = [abs(g - float(interval)) for g in gaps]
    errors = [e for r in results for e in r["errors"]]
    connected = sum(r["connected"] for r in results)
    print(
        f"scenario {args.scenario}: students connected {connected}/{args.students}; "
        f"lessons {len(latencies)}, at most {most_at_once(spans)} streaming at once"
    )
    print(
        f"ask -> explanation_start (cached): p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
        f"max {max(latencies, default=0):.1f} ms"
    )
    mean_gap = statistics.fmean(gaps) if gaps else 0.0
    print(
        f"chunk cadence (target {interval} ms): mean gap {mean_gap:.1f}"
        f" ms; jitter p50 {percentile(jitter, 0.5):.1f} ms, p99 {percentile(jitter, 0.99):.1f} ms"
        f" over {len(gaps)} gaps"
    )
    if server_pids and spans:
        busy = cpu_seconds(server_pids) - cpu_before
        elapsed = max(end for _, end in spans) - wall_before
        print(
            f"server CPU: {busy:.1f} s over {elapsed:.0f} s"
            f" ({busy / elapsed * 100:.0f}% of a core); "
            f"{busy / max(1, len(gaps) + len(latencies)) * 1e6:.0f} us per chunk sent"
        )
    if len(sampled) == 2:
        received = sum(r["in_window"] for r in results)
        steady = sampled[1] - sampled[0]
        steady_jitter = [abs(gap - float(interval)) for r in results for gap in r["steady_gaps"]]
        print(
            f"steady streaming ({args.window:.0f} s): server at {steady / args.window * 100:.0f}%"
            f" of a core, {received / args.window:.0f} events/s received,"
            f" {steady / max(1, received) * 1e6:.0f} us of server CPU per event;"
            f" jitter p50 {percentile(steady_jitter, 0.5):.1f} ms,"
            f" p99 {percentile(steady_jitter, 0.99):.1f} ms"
        )
    if errors:
        counts: dict[str, int] = {}
        for error in errors:
            counts[error[:60]] = counts.get(error[:60], 0) + 1
        print(f"errors: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
