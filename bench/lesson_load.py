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


class LeanStudent:
    """One student speaking the Engine.IO 4 / Socket.IO 5 wire protocol over a bare websocket:
    the same frames a browser's socket.io-client exchanges, with none of the client library's
    per-event work (a thread or greenlet per event, full JSON decoding), so that the load
    generator does not need more CPU than the server it measures. Only the event name is read
    from each frame; the bench's timings are taken on arrival."""

    def __init__(self, url: str, token: str):
        import websocket  # websocket-client (requirements-dev)

        host = url.split("://", 1)[1].rstrip("/")
        self.ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
        self.ws.connect(f"ws://{host}/socket.io/?EIO=4&transport=websocket", timeout=30)
        opening = self.ws.recv()  # 0{"sid":...,"pingInterval":...}
        if not opening.startswith("0"):
            raise ConnectionError(f"unexpected opening frame {opening[:80]!r}")
        self.ws.send("40" + json.dumps({"token": token}))
        while True:
            reply = self.ws.recv()
            if reply.startswith("40"):
                break
            if reply.startswith("44"):  # connect_error {message, data: {code}}
                data = json.loads(reply[2:]).get("data") or {}
                raise ConnectionRefusedError(str(data.get("code") or reply[2:80]))
            if reply == "2":
                self.ws.send("3")
        self.ws.settimeout(None)

    def emit(self, event: str, payload: dict) -> None:
        self.ws.send("42" + json.dumps([event, payload], ensure_ascii=False))

    def events(self):
        """(event name, raw frame) as they arrive, answering the server's pings."""
        while True:
            frame = self.ws.recv()
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


def run_classroom(args: tuple) -> dict:
    """One client process of the classroom scenario: its students stay in lessons until `end`,
    each asking the long lesson, following it to `explanation_complete`, pausing `think`
    seconds (±50%), and asking again. A dropped socket is counted and reconnected.

    Figures are kept per time slice (`slice_s` seconds from `start_at`) so that a long run
    shows drift: ask latencies as (t, ms), chunk jitter as histograms of 0.1 ms bins."""
    url, tokens, start_at, ramp, end, think, slice_s, interval, spread = args
    process, processes, total = spread
    from gevent import monkey

    monkey.patch_all()
    import random

    import gevent
    import gevent.event

    latencies: list[tuple[float, float]] = []
    jitter: dict[int, dict[int, int]] = {}  # slice -> {bin: count}
    events: dict[int, int] = {}  # slice -> events received
    errors: dict[str, int] = {}
    spans: list[tuple[float, float]] = []  # (explanation_start, explanation_complete)
    connects = 0

    def count_error(code: str) -> None:
        errors[code] = errors.get(code, 0) + 1

    def listen(client: LeanStudent, state: dict) -> None:
        with contextlib.suppress(Exception):  # a socket closed under us: the loop reports it
            for event, frame in client.events():
                now = time.perf_counter()
                moment = time.time()
                bucket = int((moment - start_at) // slice_s)
                events[bucket] = events.get(bucket, 0) + 1
                if event == "content_chunk":
                    if state["last_chunk"] is not None:
                        gap = (now - state["last_chunk"]) * 1000
                        hist = jitter.setdefault(bucket, {})
                        key = round(abs(gap - interval) / JITTER_BIN_MS)
                        hist[key] = hist.get(key, 0) + 1
                    state["last_chunk"] = now
                elif event == "step_start":
                    state["last_chunk"] = None  # gaps are measured within a step
                elif event == "explanation_start":
                    latencies.append((moment - start_at, (now - state["asked"]) * 1000))
                    state["began"] = moment
                elif event == "explanation_complete":
                    spans.append((state.get("began", moment), moment))
                    state["done"].set()
                elif event == "error":
                    count_error(str(json.loads(frame[2:])[1].get("code")))
                    state["done"].set()
        state["closed"] = True
        state["done"].set()

    def connect(token: str) -> LeanStudent | None:
        nonlocal connects
        while time.time() < end:
            try:
                client = LeanStudent(url, token)
                connects += 1
                return client
            except ConnectionRefusedError as exc:
                count_error(f"connect refused: {exc}")
            except Exception as exc:  # noqa: BLE001 - counted, retried
                count_error(f"connect: {type(exc).__name__}")
            gevent.sleep(1 + random.random())
        return None

    def student(index: int, token: str) -> None:
        client = connect(token)
        turn = index * processes + process
        gevent.sleep(max(0.0, start_at - time.time()) + ramp * turn / max(1, total))
        while client is not None and time.time() < end:
            state: dict = {"last_chunk": None, "done": gevent.event.Event(), "closed": False}
            listener = gevent.spawn(listen, client, state)
            while time.time() < end and not state["closed"]:
                state["done"].clear()
                state["last_chunk"] = None
                state["asked"] = time.perf_counter()
                try:
                    client.emit("ask_question", {"question": LONG_QUESTION})
                except Exception:  # noqa: BLE001 - the socket is gone: reconnect below
                    break
                if not state["done"].wait(120):
                    count_error("no explanation_complete within 120 s")
                if state["closed"]:
                    break
                gevent.sleep(think * (0.5 + random.random()))
            listener.kill()
            if time.time() < end:
                count_error("disconnected")
                client.close()
                client = connect(token)
        if client is not None:
            client.close()

    greenlets = [gevent.spawn(student, i, token) for i, token in enumerate(tokens)]
    gevent.joinall(greenlets, timeout=max(0.0, end - time.time()) + 180)
    return {
        "latencies": latencies,
        "jitter": jitter,
        "events": events,
        "errors": errors,
        "spans": spans,
        "connects": connects,
    }


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
        )
        for process, share in enumerate(shares)
    ]
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
    report = load_report.summarize(
        args=args,
        results=results,
        samples=sampler.samples,
        start_at=start_at,
        interval=float(interval),
        jitter_bin_ms=JITTER_BIN_MS,
        deployment=deployment,
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
    print(f"starting {args.deploy} gunicorn workers behind HAProxy...", flush=True)
    try:
        with Deployment(
            workers=args.deploy, settings=settings, gunicorn_config=args.gunicorn_config
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
