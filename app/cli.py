"""`flask --app app ...` commands (controllers: parse, call one service, print)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.controllers.generation_jobs import run_generation
from app.devstack import DevStackError
from app.errors import AppError
from app.services.ai_prompt import PROMPT_VERSION

db_cli = AppGroup("db", help="Database migrations and seed data.")
answers_cli = AppGroup("answers", help="Precomputed answers (answer documents).")
users_cli = AppGroup("users", help="Local development users (LOCAL_AUTH only).")


@contextmanager
def backing_services() -> Iterator[None]:
    """Start the embedded servers for the length of a command when they are not running
    (and stop only what was started here), so the CLI works without `make run`. A domain
    error (a store down, bad input) ends the command with its message, not a traceback."""
    devstack = current_app.extensions.get("pizarra_devstack")
    owned = devstack if devstack is not None and not devstack.is_running() else None
    try:
        if owned is not None:
            click.echo("starting the embedded PostgreSQL/Redis for this command...", err=True)
            owned.start()
        yield
    except AppError as exc:
        _fail(exc.message, exc.details if isinstance(exc.details, list) else None)
    except DevStackError as exc:
        _fail(str(exc))
    finally:
        if owned is not None:
            owned.stop()


def _fail(message: str, details: list[str] | None = None) -> NoReturn:
    click.secho(message, fg="red", err=True)
    for line in details or []:
        click.echo(f"  - {line}", err=True)
    sys.exit(1)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations in order, each in a transaction (idempotent)."""
    container = current_app.extensions["pizarra"]
    with backing_services():
        applied = container.migrations.upgrade(progress=lambda m: click.echo(m))
    click.echo(f"{len(applied)} migration(s) applied" if applied else "database is up to date")


@db_cli.command("seed")
def db_seed() -> None:
    """Apply the seed data again: plans, canvas library, the exam bank and the lessons of
    seed/ (idempotent: upserts; students' statistics are kept)."""
    container = current_app.extensions["pizarra"]
    with backing_services():
        container.migrations.seed()
        report = container.seed.load()
    click.echo(
        f"seed data applied: plans, canvas library, {report.questions} bank question(s), "
        f"{report.answers} lesson(s)"
    )


@db_cli.command("status")
def db_status() -> None:
    """List migrations and whether each is applied."""
    container = current_app.extensions["pizarra"]
    with backing_services():
        for name, applied in container.migrations.status():
            click.echo(f"[{'x' if applied else ' '}] {name}")


@answers_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def answers_import(file: Path) -> None:
    """Validate every answer document in FILE (a JSON array) and upsert them all, or none."""
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text")
    except json.JSONDecodeError as exc:
        _fail(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    container = current_app.extensions["pizarra"]
    with backing_services():
        report = container.answers.import_answers(entries)
    click.echo(f"{report.created} answer(s) created, {report.updated} updated")


@answers_cli.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout")
def answers_export(out: Path | None) -> None:
    """Write every stored answer as a JSON array in the import format."""
    container = current_app.extensions["pizarra"]
    with backing_services():
        documents = container.answers.export_answers()
    text = json.dumps(documents, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"{len(documents)} answer(s) written to {out}", err=True)
    else:
        click.echo(text)


@answers_cli.command("generate")
@click.option("--subject", help="Only bank questions of this subject")
@click.option("--code", "codes", multiple=True, help="This bank question (again); repeatable")
@click.option("--stale", is_flag=True, help="Also rewrite answers an older prompt wrote")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many answers")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 32))
@click.option("--dry-run", is_flag=True, help="List what would be written, call nothing")
def answers_generate(
    subject: str | None,
    codes: tuple[str, ...],
    stale: bool,
    limit: int | None,
    concurrency: int,
    dry_run: bool,
) -> None:
    """Have the AI write the explanations of bank questions that lack one. Each answer is
    stored as soon as it is written, so an interrupted run resumes where it stopped."""
    container = current_app.extensions["pizarra"]
    settings = container.settings
    with backing_services():
        todo = container.answers.bank_answers_to_write(
            prompt_version=PROMPT_VERSION,
            subject=subject,
            codes=list(codes) or None,
            stale=stale,
            limit=limit,
        )
        if not todo:
            click.echo("every bank question already has an answer")
            return
        if dry_run:
            for item in todo:
                click.echo(f"{item.code}\t{item.reason}\t{item.question[:70]}")
            click.echo(f"{len(todo)} answer(s) would be written", err=True)
            return
        if not container.generation.available:
            _fail("OPENAI_API_KEY is not set: there is no model to write answers with.")
        report = run_generation(container.generation, todo, concurrency)
    cost = (
        report.prompt_tokens * settings.openai_price_input
        + report.completion_tokens * settings.openai_price_output
    ) / 1_000_000
    click.echo(
        f"{report.done} written, {report.failed} failed, {report.refused} refused, "
        f"{report.busy} being written elsewhere; tokens: {report.prompt_tokens} in, "
        f"{report.completion_tokens} out; estimated cost: ${cost:.4f}"
    )
    for code, message in report.failures:
        click.echo(f"  - {code}: {message}", err=True)
    if report.failed:
        sys.exit(1)


@answers_cli.command("preview")
@click.argument("key")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for step-1.png, step-2.png, ...",
)
def answers_preview(key: str, out_dir: Path) -> None:
    """Render the board after each step of a stored answer to PNG. KEY is the question's hash
    or a bank question's code (2024Algebra14). Drawings that run off the board are listed."""
    container = current_app.extensions["pizarra"]
    with backing_services():
        try:
            rendered = container.answers.preview(key)
        except AppError as exc:
            _fail(exc.message)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = 0
    for number, board in enumerate(rendered, start=1):
        path = out_dir / f"step-{number}.png"
        path.write_bytes(board.png)
        click.echo(f"{path}")
        for problem in board.problems:
            problems += 1
            click.echo(f"  step {number}: {problem}", err=True)
    click.echo(f"{len(rendered)} step(s) rendered, {problems} problem(s)", err=True)


@answers_cli.command("review")
@click.option("--clear", "clear_hash", metavar="HASH", help="Unmark this answer once reviewed")
def answers_review(clear_hash: str | None) -> None:
    """List the answers marked for review (students lost on a step, or low ratings). Importing
    new steps for an answer clears its mark; --clear HASH does it without changing them."""
    container = current_app.extensions["pizarra"]
    with backing_services():
        if clear_hash:
            try:
                container.answers.clear_review(clear_hash)
            except AppError as exc:
                _fail(exc.message)
            click.echo(f"{clear_hash}: review mark cleared")
            return
        flagged = container.answers.needing_review()
    if not flagged:
        click.echo("No answers are marked for review.")
        return
    for entry in flagged:
        click.echo(
            f"{entry['question_hash']}  {entry['flagged_at']}  "
            f"votes {entry['helpful_votes']}/{entry['total_votes']}  "
            f"lessons {entry['usage_count']}\n    {entry['question']}\n    {entry['reason']}"
        )
    click.echo(f"{len(flagged)} answer(s) marked for review", err=True)


@users_cli.command("dev-token")
@click.argument("email")
@click.option("--name", "full_name", help="Full name shown in the profile")
@click.option("--ttl", default=3600, show_default=True, help="Seconds until the token expires")
def users_dev_token(email: str, full_name: str | None, ttl: int) -> None:
    """Create (or reuse) a local user and print a Supabase-shaped access token for it."""
    container = current_app.extensions["pizarra"]
    if container.dev_tokens is None:
        _fail("dev tokens need local auth (LOCAL_AUTH=true, never in production)")
    with backing_services():
        token = container.dev_tokens.issue(email=email, full_name=full_name, ttl_seconds=ttl)
    click.echo(token)


@click.command("ask")
@click.argument("question", required=False)
@click.option("--email", default="terminal@example.com", show_default=True, help="Local user")
@click.option("--url", help="Server URL (default: http://HOST:PORT of the configuration)")
@click.option(
    "--audio",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ask by voice: a recording (WebM, Ogg, WAV or MP3), transcribed by the server",
)
def ask_command(question: str | None, email: str, url: str | None, audio: Path | None) -> None:
    """Ask QUESTION (or the recording of --audio) as a local student and watch the lesson
    stream in the terminal (needs `make run` running; p/r/q + Enter pause, resume, quit)."""
    from app.controllers.terminal_client import TerminalLesson

    if (question is None) == (audio is None):
        _fail("give a QUESTION or --audio FILE (one of them)")
    container = current_app.extensions["pizarra"]
    if container.dev_tokens is None:
        _fail("the terminal client signs in as a local user: it needs LOCAL_AUTH=true")
    settings = container.settings
    try:
        token = container.dev_tokens.issue(email=email, full_name="Terminal")
    except AppError as exc:
        _fail(f"{exc.message} (is `make run` running?)")
    server = url or f"http://{settings.host}:{settings.port}"
    recording = audio.read_bytes() if audio is not None else None
    sys.exit(TerminalLesson(server, token).run(question, stdin=sys.stdin, audio=recording))


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(answers_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(ask_command)
