"""The operators' commands, run through the real click commands of `flask --app app`."""

import json
from pathlib import Path

from app.utils.text_processing import generate_hash

FIXTURE = Path(__file__).parent.parent / "fixtures" / "answers.json"


def stored_count(container) -> int:
    with container.db.connection() as conn:
        return container.ai_answers.count(conn)


def test_import_validates_normalizes_and_stores_every_answer(cli_runner, container):
    result = cli_runner.invoke(args=["answers", "import", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert "2 answer(s) created, 0 updated" in result.output
    stored = container.answers.get_answer("que es una DERIVADA")
    assert stored["question_text"] == "¿Qué es una derivada?"
    assert stored["normalized_question"] == "que es una derivada"
    assert stored["total_duration"] == 75
    assert stored["subject"] == "calculo"
    assert [s["title"] for s in stored["answer_steps"]] == [
        "Idea intuitiva",
        "La fórmula",
        "Ejemplo",
        "Resumen",
    ]
    assert stored["answer_steps"][1]["canvas"][0]["latex"].startswith("f'(x)=\\lim")


def test_reimport_updates_in_place_and_evicts_the_cached_copy(cli_runner, container, tmp_path):
    cli_runner.invoke(args=["answers", "import", str(FIXTURE)])
    question_hash = generate_hash("¿Qué es una derivada?")
    container.sessions.cache_answer(question_hash, [{"title": "viejo"}], 10)

    entries = json.loads(FIXTURE.read_text())
    entries[0]["steps"][3]["content"] = "Derivar es medir la pendiente."
    changed = tmp_path / "answers.json"
    changed.write_text(json.dumps(entries, ensure_ascii=False))
    result = cli_runner.invoke(args=["answers", "import", str(changed)])

    assert "0 answer(s) created, 2 updated" in result.output
    assert stored_count(container) == 2
    steps = container.answers.get_answer("¿Qué es una derivada?")["answer_steps"]
    assert steps[3]["content"] == "Derivar es medir la pendiente."
    assert container.sessions.get_cached_answer(question_hash) is None


def test_one_bad_entry_names_entry_and_field_and_nothing_is_written(
    cli_runner, container, tmp_path
):
    entries = json.loads(FIXTURE.read_text())
    entries[1]["steps"][0]["content_type"] = "poema"
    entries.append({"question": "¿Qué es la energía?", "steps": []})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(entries, ensure_ascii=False))

    result = cli_runner.invoke(args=["answers", "import", str(bad)])

    assert result.exit_code == 1
    assert "no se importó nada" in result.output
    assert "entry 1 ('¿Cómo resuelvo x^2 - 5x + 6 = 0?'): steps.0.content_type" in result.output
    assert "entry 2 ('¿Qué es la energía?'): steps" in result.output
    assert "Traceback" not in result.output
    assert stored_count(container) == 0


def test_two_phrasings_of_one_question_in_a_file_are_refused(cli_runner, container, tmp_path):
    entries = json.loads(FIXTURE.read_text())
    twin = dict(entries[0], question="que es una derivada")
    path = tmp_path / "twins.json"
    path.write_text(json.dumps([entries[0], twin], ensure_ascii=False))
    result = cli_runner.invoke(args=["answers", "import", str(path)])
    assert result.exit_code == 1
    assert "same normalized question as entry 0" in result.output
    assert stored_count(container) == 0


def test_unreadable_files_get_a_clear_message(cli_runner, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"question": "¿Qué?",]')
    result = cli_runner.invoke(args=["answers", "import", str(broken)])
    assert result.exit_code == 1
    assert "invalid JSON at line 1" in result.output

    not_a_list = tmp_path / "object.json"
    not_a_list.write_text('{"question": "x"}')
    result = cli_runner.invoke(args=["answers", "import", str(not_a_list)])
    assert result.exit_code == 1
    assert "lista JSON" in result.output

    result = cli_runner.invoke(args=["answers", "import", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_export_then_import_is_a_round_trip(cli_runner, container, tmp_path):
    cli_runner.invoke(args=["answers", "import", str(FIXTURE)])
    out = tmp_path / "export.json"
    result = cli_runner.invoke(args=["answers", "export", "--out", str(out)])
    assert result.exit_code == 0
    exported = json.loads(out.read_text())
    assert {e["question"] for e in exported} == {
        "¿Qué es una derivada?",
        "¿Cómo resuelvo x^2 - 5x + 6 = 0?",
    }
    before = container.answers.get_answer("¿Qué es una derivada?")
    result = cli_runner.invoke(args=["answers", "import", str(out)])
    assert "0 answer(s) created, 2 updated" in result.output
    after = container.answers.get_answer("¿Qué es una derivada?")
    assert after["answer_steps"] == before["answer_steps"]
    assert after["total_duration"] == before["total_duration"]


def test_db_commands(cli_runner, container):
    result = cli_runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0 and "database is up to date" in result.output
    result = cli_runner.invoke(args=["db", "status"])
    assert "[x] 001_create_tables.sql" in result.output
    with container.db.transaction() as conn:
        conn.execute("DELETE FROM subscription_plans WHERE name = 'pro'")
    result = cli_runner.invoke(args=["db", "seed"])
    assert result.exit_code == 0
    with container.db.connection() as conn:
        names = conn.execute("SELECT name FROM subscription_plans ORDER BY name").fetchall()
    assert [n["name"] for n in names] == ["basic", "free", "premium", "pro"]


def test_commands_report_a_store_outage_without_a_traceback(tmp_path, redis_url):
    from app import create_app
    from app.devstack import free_port
    from tests.conftest import make_settings

    dead = free_port()
    application = create_app(
        make_settings(
            database_url=f"postgresql://postgres@127.0.0.1:{dead}/x",
            redis_url=redis_url,
            database_pool_timeout=1,
            data_dir=tmp_path,
        )
    )
    runner = application.test_cli_runner()
    for args in (["db", "status"], ["db", "seed"], ["answers", "export"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1, args
        assert "no está disponible" in result.output
        assert "Traceback" not in result.output
    application.extensions["pizarra"].close()


def test_import_with_redis_down_writes_nothing(container, database_url, tmp_path):
    from app import create_app
    from app.devstack import free_port
    from tests.conftest import make_settings

    application = create_app(
        make_settings(
            database_url=database_url,
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            data_dir=tmp_path,
        )
    )
    result = application.test_cli_runner().invoke(args=["answers", "import", str(FIXTURE)])
    application.extensions["pizarra"].close()
    assert result.exit_code == 1
    assert "no está disponible" in result.output
    assert stored_count(container) == 0
