"""Load benchmark for live lessons: many students connected over real Socket.IO websockets.

Two scenarios against one running server process (`make run`, or any URL with local auth):

- `ask`: N students connected; `--lessons` of them ask a short cached answer, spread over
  `--ramp` seconds → ask → `explanation_start` latency (p50/p99) with N connected.
- `cadence`: every student asks a long cached answer within `--ramp` seconds, so that all their
  lessons stream at once → typewriter cadence jitter: how far the gap between consecutive
  `content_chunk`s of a step strays from STREAM_CHUNK_INTERVAL_MS (p50/p99), and how many
  lessons were streaming at the same time.

With `--server-pid`, the server's CPU use over the run is reported too. Clients are greenlets
(gevent) spread over several client processes, so the load generator is not the bottleneck it
would be as one Python thread per student.

    .venv/bin/python bench/lesson_load.py --scenario ask --students 1000 --lessons 300 --ramp 30
    .venv/bin/python bench/lesson_load.py --scenario cadence --students 1000 --ramp 5

It creates bench users (bench-N@example.com) with ample credits in the configured database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
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


def run_clients(args: tuple) -> dict:
    url, tokens, lessons_here, hold_seconds, start_at, ramp, question = args
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import socketio

    latencies: list[float] = []
    gaps: list[float] = []
    errors: list[str] = []
    spans: list[tuple[float, float]] = []  # (first event, completion), wall clock
    connected = 0

    def student(index: int, token: str) -> None:
        nonlocal connected
        client = socketio.Client(reconnection=False)
        state = {"asked": 0.0, "last_chunk": None}
        done = gevent.event.Event()

        @client.on("explanation_start")
        def _start(data):
            latencies.append((time.perf_counter() - state["asked"]) * 1000)
            state["began"] = time.time()

        @client.on("content_chunk")
        def _chunk(data):
            now = time.perf_counter()
            if state["last_chunk"] is not None:
                gaps.append((now - state["last_chunk"]) * 1000)
            state["last_chunk"] = now

        @client.on("step_start")
        def _step(data):
            state["last_chunk"] = None  # gaps are measured within a step

        @client.on("explanation_complete")
        def _complete(data):
            spans.append((state.get("began", time.time()), time.time()))
            done.set()

        @client.on("error")
        def _error(data):
            errors.append(str(data.get("code")))
            done.set()

        refusal: dict = {}

        @client.on("connect_error")
        def _refused(data=None):
            refusal.update((data or {}).get("data") or {"code": str(data)})

        try:
            client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
        except Exception as exc:  # noqa: BLE001 - counted, the bench goes on
            errors.append(
                f"connect refused: {refusal.get('code')}" if refusal else f"connect: {exc}"
            )
            return
        connected += 1
        # Questions arrive spread over the ramp, as students do, not all in one instant.
        gevent.sleep(max(0.0, start_at - time.time()) + ramp * index / max(1, len(tokens)))
        if index < lessons_here:
            state["asked"] = time.perf_counter()
            client.emit("ask_question", {"question": question})
            done.wait(120)
        gevent.sleep(max(0.0, start_at + hold_seconds - time.time()))
        client.disconnect()

    greenlets = [gevent.spawn(student, i, token) for i, token in enumerate(tokens)]
    gevent.joinall(greenlets, timeout=hold_seconds + 180)
    return {
        "latencies": latencies,
        "gaps": gaps,
        "errors": errors,
        "connected": connected,
        "spans": spans,
    }


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--scenario", choices=("ask", "cadence"), default="ask")
    parser.add_argument("--server-pid", type=int, help="report this process's CPU use")
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--lessons", type=int, help="students who ask (default: all of them)")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to connect everyone")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which they ask")
    args = parser.parse_args()
    lessons = args.students if args.lessons is None else min(args.lessons, args.students)
    question = QUESTION if args.scenario == "ask" else LONG_QUESTION

    print(f"preparing {args.students} bench users...", flush=True)
    tokens, interval = prepare_tokens(args.students)
    start_at = time.time() + args.settle
    shares = [tokens[i :: args.processes] for i in range(args.processes)]
    lesson_shares = [len(range(i, lessons, args.processes)) for i in range(args.processes)]
    hold = args.ramp + (30.0 if args.scenario == "ask" else 60.0)
    jobs = [
        (args.url, share, asked, hold, start_at, args.ramp, question)
        for share, asked in zip(shares, lesson_shares, strict=True)
    ]
    print(f"connecting {args.students} students from {args.processes} processes...", flush=True)
    cpu_before = cpu_seconds(args.server_pid) if args.server_pid else 0.0
    wall_before = time.time()
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
        f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies, default=0):.1f} ms"
    )
    mean_gap = statistics.fmean(gaps) if gaps else 0.0
    print(
        f"chunk cadence (target {interval} ms): mean gap {mean_gap:.1f}"
        f" ms; jitter p50 {percentile(jitter, 0.5):.1f} ms, p99 {percentile(jitter, 0.99):.1f} ms"
        f" over {len(gaps)} gaps"
    )
    if args.server_pid and spans:
        busy = cpu_seconds(args.server_pid) - cpu_before
        window = max(end for _, end in spans) - wall_before
        print(
            f"server CPU: {busy:.1f} s over {window:.0f} s ({busy / window * 100:.0f}% of a core); "
            f"{busy / max(1, len(gaps) + len(latencies)) * 1e6:.0f} us per chunk sent"
        )
    if errors:
        counts: dict[str, int] = {}
        for error in errors:
            counts[error[:60]] = counts.get(error[:60], 0) + 1
        print(f"errors: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
