"""Figures of `lesson_load.py --scenario classroom`: the processes sampled during the run (CPU,
RSS), the students' timings merged, a summary, JSON under bench/results/ and a PNG."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MB = 1024 * 1024


class Sampler(threading.Thread):
    """Every `every` seconds: CPU seconds and RSS of each gunicorn worker, HAProxy, the given
    pids and the load generator's client processes (summed), and HAProxy's current sessions
    per server. The first sample is taken before any student connects (the idle baseline)."""

    def __init__(self, *, deployment, server_pids: list[int], every: float, start_at: float):
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.deployment = deployment
        self.every = every
        self.start_at = start_at
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self.roles: dict[str, list] = {}
        pids = list(server_pids)
        if deployment is not None:
            pids += deployment.worker_pids()
            self.roles["haproxy"] = [psutil.Process(deployment.haproxy.pid)]
        for index, pid in enumerate(pids):
            self.roles[f"worker {index + 1}"] = [psutil.Process(pid)]
        self.own = psutil.Process()
        self.known = {p.pid for procs in self.roles.values() for p in procs}
        if deployment is not None:
            self.known |= {m.pid for m in deployment.masters}
        self.sample()

    def clients(self) -> list:
        """The load generator's client processes (the multiprocessing pool's)."""
        found = []
        for child in self.own.children():
            with contextlib.suppress(self.psutil.Error):
                if child.pid not in self.known and "multiprocessing" in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def sample(self) -> None:
        row: dict = {"t": round(time.time() - self.start_at, 2), "cpu": {}, "rss": {}}
        for role, processes in [*self.roles.items(), ("clients", self.clients())]:
            cpu = rss = 0.0
            for process in processes:
                try:
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    rss += process.memory_info().rss
                except self.psutil.Error:
                    # A process that has exited (one stopped mid-run): its CPU stays what it
                    # had used, so that differences over the run do not go negative.
                    if role != "clients" and self.samples:
                        cpu += self.samples[-1]["cpu"].get(role, 0.0)
            row["cpu"][role] = round(cpu, 3)
            row["rss"][role] = int(rss)
        if self.deployment is not None:
            with contextlib.suppress(OSError, ValueError):
                row["haproxy_sessions"] = {
                    name: counts["current"]
                    for name, counts in self.deployment.sessions_per_server().items()
                }
        self.samples.append(row)

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def hist_percentile(hist: dict[int, int], q: float, bin_ms: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for key in sorted(hist):
        seen += hist[key]
        if seen > rank:
            return round(key * bin_ms, 2)
    return round(max(hist) * bin_ms, 2)


def merge_hists(hists: list[dict]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for hist in hists:
        for key, count in hist.items():
            merged[int(key)] = merged.get(int(key), 0) + count
    return merged


def overlap(span: tuple[float, float], window: tuple[float, float]) -> float:
    return max(0.0, min(span[1], window[1]) - max(span[0], window[0]))


def at(samples: list[dict], t: float) -> dict:
    """The sample nearest to time t."""
    return min(samples, key=lambda row: abs(row["t"] - t))


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, bytes) in MB per minute."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if not var:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return round(cov / var * 60 / MB, 3)


def machine() -> dict:
    def command(*args: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(args, capture_output=True, text=True, timeout=5, cwd=ROOT)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        return None

    return {
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "haproxy": command("haproxy", "-v"),
        "commit": command("git", "rev-parse", "--short", "HEAD"),
    }


def summarize(
    *,
    args,
    results: list[dict],
    samples: list[dict],
    start_at: float,
    interval: float,
    jitter_bin_ms: float,
    deployment,
) -> dict:
    window = (args.ramp, args.ramp + args.duration)  # every student asked, none left yet
    length = window[1] - window[0]
    latencies = sorted(pair for r in results for pair in r["latencies"])
    spans = [(a - start_at, b - start_at) for r in results for a, b in r["spans"]]
    errors: dict[str, int] = {}
    for r in results:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    slices = sorted({int(k) for r in results for k in [*r["jitter"], *r["events"]]})
    jitter_by_slice = {
        s: merge_hists([r["jitter"].get(s, {}) for r in results if s in r["jitter"]])
        for s in slices
    }
    events_by_slice = {s: sum(r["events"].get(s, 0) for r in results) for s in slices}

    def in_window(s: int) -> bool:
        return window[0] <= s * args.slice and (s + 1) * args.slice <= window[1]

    steady_jitter = merge_hists([jitter_by_slice[s] for s in slices if in_window(s)])
    all_jitter = merge_hists(list(jitter_by_slice.values()))
    steady_latency = [ms for t, ms in latencies if window[0] <= t <= window[1]]
    steady_events = sum(events_by_slice[s] for s in slices if in_window(s))
    steady_seconds = sum(args.slice for s in slices if in_window(s)) or length
    lessons_at_once = sum(overlap(span, window) for span in spans) / length
    completed = sum(1 for _, b in spans if window[0] <= b <= window[1])

    first, last = at(samples, window[0]), at(samples, window[1])
    baseline = samples[0]
    elapsed = max(1e-9, last["t"] - first["t"])
    processes = {}
    for role in first["cpu"]:
        cpu = last["cpu"][role] - first["cpu"][role]
        half = [
            (row["t"], row["rss"][role])
            for row in samples
            if (window[0] + window[1]) / 2 <= row["t"] <= window[1]
        ]
        processes[role] = {
            "cpu_percent_of_core": round(cpu / elapsed * 100, 1),
            "rss_mb_idle": round(baseline["rss"][role] / MB, 1),
            "rss_mb_start": round(first["rss"][role] / MB, 1),
            "rss_mb_end": round(last["rss"][role] / MB, 1),
            "rss_mb_max": round(
                max(row["rss"][role] for row in samples if row["t"] <= window[1]) / MB, 1
            ),
            "rss_slope_mb_per_min_second_half": slope_mb_per_min(half),
        }
    workers = [role for role in processes if role.startswith("worker")]
    worker_cpu = sum(processes[w]["cpu_percent_of_core"] for w in workers)
    worker_cpu_s = sum(last["cpu"][w] - first["cpu"][w] for w in workers)
    worker_rss_growth = sum(first["rss"][w] - baseline["rss"][w] for w in workers)

    timeline = []
    for s in slices:
        span_window = (s * args.slice, (s + 1) * args.slice)
        slice_latency = [ms for t, ms in latencies if span_window[0] <= t < span_window[1]]
        timeline.append(
            {
                "t": s * args.slice,
                "ask_p50_ms": percentile(slice_latency, 0.5),
                "ask_p99_ms": percentile(slice_latency, 0.99),
                "asks": len(slice_latency),
                "jitter_p50_ms": hist_percentile(jitter_by_slice[s], 0.5, jitter_bin_ms),
                "jitter_p99_ms": hist_percentile(jitter_by_slice[s], 0.99, jitter_bin_ms),
                "events_per_s": round(events_by_slice[s] / args.slice, 1),
                "lessons_at_once": round(
                    sum(overlap(span, span_window) for span in spans) / args.slice, 1
                ),
            }
        )
    sessions = [row.get("haproxy_sessions") for row in samples if window[0] <= row["t"]]
    sessions = [row for row in sessions if row]

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "students": args.students,
            "workers": args.deploy or len(args.server_pid or []),
            "client_processes": args.processes,
            "chunk_interval_ms": interval,
            "ramp_s": args.ramp,
            "duration_s": args.duration,
            "think_s": args.think,
            "sample_s": args.sample,
            "slice_s": args.slice,
            "load_balancer": "haproxy leastconn, cookie-sticky" if deployment else None,
            "gunicorn_config": str(args.gunicorn_config or "the Dockerfile's CMD"),
        },
        "machine": machine(),
        "window_s": list(window),
        "students_connected": sum(r["connects"] for r in results),
        "lessons_started": len(latencies),
        "lessons_completed_in_window": completed,
        "lessons_at_once_mean": round(lessons_at_once, 1),
        "events_per_s": round(steady_events / steady_seconds, 1),
        "ask_to_start_ms": {
            "count": len(steady_latency),
            "p50": rounded(percentile(steady_latency, 0.5)),
            "p95": rounded(percentile(steady_latency, 0.95)),
            "p99": rounded(percentile(steady_latency, 0.99)),
            "max": rounded(max(steady_latency, default=None)),
        },
        "chunk_jitter_ms": {
            "count": sum(steady_jitter.values()),
            "p50": hist_percentile(steady_jitter, 0.5, jitter_bin_ms),
            "p99": hist_percentile(steady_jitter, 0.99, jitter_bin_ms),
            "p999": hist_percentile(steady_jitter, 0.999, jitter_bin_ms),
            "whole_run_p99": hist_percentile(all_jitter, 0.99, jitter_bin_ms),
        },
        "processes": processes,
        "per_lesson": {
            "worker_cpu_percent_per_lesson_at_once": round(
                worker_cpu / max(1e-9, lessons_at_once), 3
            ),
            "worker_cpu_ms_per_lesson_completed": round(worker_cpu_s * 1000 / max(1, completed)),
            "worker_cpu_us_per_event": round(worker_cpu_s * 1e6 / max(1, steady_events)),
            "worker_rss_kb_per_student": round(worker_rss_growth / 1024 / args.students, 1),
        },
        "errors": errors,
        "haproxy_sessions_per_server": sessions[len(sessions) // 2] if sessions else None,
        "timeline": timeline,
        "samples": samples,
    }


def summarize_restart(*, results: list[dict], stopped: dict, start_at: float, end: float) -> dict:
    """What a graceful stop of one process mid-run did to the students (`--sigterm-at`): how
    many were on it, how many reconnected and how fast (from the signal), what their lessons
    became, and how the process exited."""
    cut = stopped.get("sigterm_at", float("nan"))
    server = stopped.get("server")
    drops = [drop for r in results for drop in r.get("drops", [])]
    on_stopped = [d for d in drops if d["server"] == server]
    elsewhere = [d for d in drops if d["server"] != server]
    reconnected = [d for d in on_stopped if "reconnected_at" in d]
    in_lesson = [d for d in reconnected if d["in_lesson"]]

    def stats(values: list[float]) -> dict:
        return {
            "count": len(values),
            "p50": None if not values else round(percentile(values, 0.5), 2),
            "p95": None if not values else round(percentile(values, 0.95), 2),
            "max": None if not values else round(max(values), 2),
        }

    lessons: dict[str, int] = {}
    lessons_cut: dict[str, int] = {}
    retries: dict[str, int] = {}
    for r in results:
        for table, counts in (
            (lessons, r.get("lessons", {})),
            (lessons_cut, r.get("lessons_cut", {})),
        ):
            for status, n in counts.items():
                table[status] = table.get(status, 0) + n
        for cause, n in r.get("retries", {}).items():
            retries[cause] = retries.get(cause, 0) + n
    broken = [b for r in results for b in r.get("broken", [])]
    for b in broken:
        b["began_s_after_cut"] = round(b.pop("began") - cut, 3)
        b["last_event_s_after_cut"] = round(b.pop("last_event") - cut, 2)
    return {
        "server": server,
        "sigterm_at_s": round(cut - start_at, 2),
        "run_ends_s_after_cut": round(end - cut, 2),
        "exit_code": stopped.get("exit_code"),
        "seconds_to_exit": stopped.get("seconds_to_exit"),
        "killed": stopped.get("killed"),
        "haproxy_sessions_before": stopped.get("sessions_before"),
        "haproxy_sessions_after": stopped.get("sessions_after"),
        "process_log": stopped.get("log"),
        "students_on_stopped_process": len(on_stopped),
        "of_them_in_a_lesson": sum(d["in_lesson"] for d in on_stopped),
        "of_them_asked_unanswered": sum(d["asked_unanswered"] for d in on_stopped),
        "reconnected": len(reconnected),
        "reconnected_to": sorted({d.get("server_after") or "?" for d in reconnected}),
        "sessions_resumed": sum(bool(d.get("resumed")) for d in reconnected),
        "resumed_sessions_asked_again": sum(bool(d.get("asked_again")) for d in on_stopped),
        "resumed_a_lesson_paused_at_its_start": sum(
            bool(d.get("resumed_a_paused_lesson")) for d in on_stopped
        ),
        "drops_elsewhere": len(elsewhere),
        "seconds_from_cut": {
            "drop_seen": stats([d["at"] - cut for d in on_stopped]),
            "reconnected": stats([d["reconnected_at"] - cut for d in reconnected]),
            "first_event_after": stats(
                [d["first_event_at"] - cut for d in in_lesson if "first_event_at" in d]
            ),
            "explanation_resumed": stats(
                [d["resumed_at"] - cut for d in in_lesson if "resumed_at" in d]
            ),
        },
        "failed_reconnection_attempts": retries,
        "duplicates_dropped": sum(r.get("duplicates_dropped", 0) for r in results),
        "lessons": lessons,
        "lessons_cut_by_the_stop": lessons_cut,
        "broken": broken[:50],
        "drops": [
            {
                key: round(value - cut, 3) if key.endswith("_at") or key == "at" else value
                for key, value in drop.items()
            }
            for drop in sorted(drops, key=lambda d: d["at"])
        ],
    }


def print_restart(restart: dict) -> None:
    secs = restart["seconds_from_cut"]

    def line(name: str) -> str:
        s = secs[name]
        return f"{name} p50 {s['p50']} / p95 {s['p95']} / max {s['max']} s ({s['count']})"

    print(
        f"SIGTERM to {restart['server']} at {restart['sigterm_at_s']} s: exit code"
        f" {restart['exit_code']} after {restart['seconds_to_exit']} s"
        f"{' (KILLED)' if restart['killed'] else ''}; HAProxy sessions before"
        f" {restart['haproxy_sessions_before']}, after {restart['haproxy_sessions_after']}"
    )
    for entry in restart["process_log"] or []:
        print(f"  log: {entry[-160:]}")
    print(
        f"students on it: {restart['students_on_stopped_process']}"
        f" ({restart['of_them_in_a_lesson']} in a lesson,"
        f" {restart['of_them_asked_unanswered']} with a question unanswered);"
        f" reconnected {restart['reconnected']} (to {restart['reconnected_to']},"
        f" {restart['sessions_resumed']} sessions resumed),"
        f" asked again {restart['resumed_sessions_asked_again']},"
        f" resumed a lesson paused at its start {restart['resumed_a_lesson_paused_at_its_start']};"
        f" drops elsewhere {restart['drops_elsewhere']}"
    )
    print("seconds from the SIGTERM: " + "; ".join(line(k) for k in secs))
    print(
        "failed reconnection attempts (retried):"
        f" {restart['failed_reconnection_attempts'] or 'none'};"
        f" events received twice and dropped: {restart['duplicates_dropped']}"
    )
    print(
        f"lessons: {restart['lessons']};"
        f" of them cut by the stop: {restart['lessons_cut_by_the_stop']}"
    )
    for b in restart["broken"][:10]:
        print(
            f"  {b['status']}: student {b['student']} {b['explanation_id']}: {b['reason']}"
            f" (began {b.get('began_s_after_cut')} s after the SIGTERM, last event"
            f" {b['last_event_s_after_cut']} s after it, {b.get('chunks')} chunks)"
        )


def print_summary(report: dict) -> None:
    cfg = report["config"]
    ask, jitter, per = report["ask_to_start_ms"], report["chunk_jitter_ms"], report["per_lesson"]
    print(
        f"classroom: {cfg['students']} students, {cfg['workers']} workers; steady window"
        f" {report['window_s'][0]:.0f}-{report['window_s'][1]:.0f} s:"
        f" {report['lessons_at_once_mean']} lessons streaming at once on average,"
        f" {report['events_per_s']} events/s received, {report['lessons_completed_in_window']}"
        f" lessons completed"
    )
    print(
        f"ask -> explanation_start: p50 {ask['p50']} / p95 {ask['p95']} / p99 {ask['p99']} /"
        f" max {ask['max']} ms over {ask['count']} asks"
    )
    print(
        f"chunk jitter (target {cfg['chunk_interval_ms']:.0f} ms): p50 {jitter['p50']} / p99"
        f" {jitter['p99']} / p99.9 {jitter['p999']} ms over {jitter['count']} gaps"
        f" (whole run p99 {jitter['whole_run_p99']} ms)"
    )
    for role, figures in report["processes"].items():
        print(
            f"  {role:>9}: {figures['cpu_percent_of_core']:5.1f}% of a core; RSS idle"
            f" {figures['rss_mb_idle']} MB, start {figures['rss_mb_start']} MB, end"
            f" {figures['rss_mb_end']} MB, max {figures['rss_mb_max']} MB; second-half slope"
            f" {figures['rss_slope_mb_per_min_second_half']} MB/min"
        )
    print(
        f"per lesson: {per['worker_cpu_percent_per_lesson_at_once']}% of a core per lesson"
        f" streaming, {per['worker_cpu_ms_per_lesson_completed']} ms of worker CPU per lesson,"
        f" {per['worker_cpu_us_per_event']} us per event, {per['worker_rss_kb_per_student']} KB"
        f" of worker RSS per connected student"
    )
    print(f"haproxy sessions per server (mid-run): {report['haproxy_sessions_per_server']}")
    print(f"errors: {report['errors'] or 'none'}")
    if report.get("restart"):
        print_restart(report["restart"])
    print(
        f"machine: {report['machine']['cpus']} cores shared with the load generator, PostgreSQL,"
        f" Redis and other work (load average {report['machine']['load_average']}):"
        " figures are noisy"
    )


def write(report: dict, out: Path | None) -> Path:
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = report["label"] or f"classroom-{report['config']['students']}"
        out = RESULTS / f"{name}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    timeline = report["timeline"]
    cfg = report["config"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True)
    (rss_ax, cpu_ax), (lat_ax, load_ax) = axes
    ts = [row["t"] for row in samples]
    for role in samples[0]["rss"]:
        rss_ax.plot(ts, [row["rss"][role] / MB for row in samples], label=role)
        cpu = [
            (b["cpu"][role] - a["cpu"][role]) / max(1e-9, b["t"] - a["t"]) * 100
            for a, b in itertools.pairwise(samples)
        ]
        cpu_ax.plot(ts[1:], cpu, label=role)
    rss_ax.set_ylabel("RSS (MB)")
    rss_ax.set_title("memory per process")
    rss_ax.set_ylim(bottom=0)
    cpu_ax.set_ylabel("% of one core")
    cpu_ax.set_title("CPU per process")
    cpu_ax.set_ylim(bottom=0)
    t = [row["t"] for row in timeline]
    lat_ax.plot(t, [row["ask_p50_ms"] for row in timeline], label="ask → start p50", marker=".")
    lat_ax.plot(t, [row["ask_p99_ms"] for row in timeline], label="ask → start p99", marker=".")
    lat_ax.plot(t, [row["jitter_p99_ms"] for row in timeline], label="chunk jitter p99")
    lat_ax.set_ylabel("ms")
    lat_ax.set_title(f"latency per {cfg['slice_s']:.0f} s slice")
    lat_ax.set_ylim(bottom=0)
    load_ax.plot(t, [row["lessons_at_once"] for row in timeline], label="lessons streaming")
    load_ax.set_ylabel("lessons at once")
    load_ax.set_ylim(bottom=0)
    events = load_ax.twinx()
    events.plot(t, [row["events_per_s"] for row in timeline], color="tab:orange", label="events/s")
    events.set_ylabel("events/s received")
    events.set_ylim(bottom=0)
    load_ax.set_title("load")
    for ax in axes.flat:
        ax.axvspan(*report["window_s"], color="0.92", zorder=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    events.legend(loc="lower left", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("seconds (shaded: steady window)")
    fig.suptitle(
        f"{cfg['students']} students, {cfg['workers']} gunicorn workers behind HAProxy,"
        f" chunks every {cfg['chunk_interval_ms']:.0f} ms ({report['machine']['cpus']} shared"
        " cores: noisy)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table_row(report: dict) -> str:
    """One markdown row of README's table for a classroom run's JSON."""
    cfg, ask, jitter = report["config"], report["ask_to_start_ms"], report["chunk_jitter_ms"]
    per, procs = report["per_lesson"], report["processes"]
    workers = [figures for role, figures in procs.items() if role.startswith("worker")]
    cpu = " / ".join(f"{w['cpu_percent_of_core']:.0f}%" for w in workers)
    rss = " / ".join(
        f"{w['rss_mb_idle']:.0f}→{w['rss_mb_start']:.0f}→{w['rss_mb_end']:.0f}" for w in workers
    )
    slopes = " / ".join(f"{w['rss_slope_mb_per_min_second_half']:+.2f}" for w in workers)
    errors = ", ".join(f"{code}: {n}" for code, n in report["errors"].items()) or "none"
    window = report["window_s"][1] - report["window_s"][0]
    return (
        f"| {report['label']} | {cfg['students']} / {cfg['workers']} | {window:.0f} s"
        f" | {report['lessons_at_once_mean']:.0f} | {report['events_per_s']:.0f}"
        f" | {ask['p50']} / {ask['p95']} / {ask['p99']} ({ask['count']})"
        f" | {jitter['p50']} / {jitter['p99']} / {jitter['p999']}"
        f" | {cpu}; haproxy {procs['haproxy']['cpu_percent_of_core']:.0f}%"
        f", clients {procs['clients']['cpu_percent_of_core']:.0f}%"
        f" | {per['worker_cpu_percent_per_lesson_at_once']:.2f}%"
        f", {per['worker_cpu_us_per_event']} µs"
        f", {per['worker_cpu_ms_per_lesson_completed']} ms"
        f" | {rss} MB ({slopes} MB/min), {per['worker_rss_kb_per_student']:.0f} KB/student"
        f" | {errors} |"
    )


if __name__ == "__main__":
    # `python bench/load_report.py bench/results/*.json`: README's table rows.
    for name in sys.argv[1:]:
        print(table_row(json.loads(Path(name).read_text())))
