import threading

from app.utils.text_processing import generate_hash, normalize_text

STEPS = [{"title": "Idea", "content_type": "text", "content": "Pendiente.", "duration": 10}]


def upsert(container, conn, question="¿Qué es una derivada?", steps=STEPS, **extra):
    values = {
        "question_hash": generate_hash(question),
        "question_text": question,
        "normalized_question": normalize_text(question),
        "answer_steps": steps,
        "total_duration": 10,
        "subject": "calculo",
        "generated_by": "manual",
    }
    values.update(extra)
    return container.ai_answers.upsert(conn, **values)


def test_answer_is_found_by_the_hash_of_any_phrasing(container, conn):
    row, created = upsert(container, conn)
    assert created
    found = container.ai_answers.get_by_hash(conn, generate_hash("que es una DERIVADA"))
    assert found["id"] == row["id"]
    assert found["answer_steps"] == STEPS
    assert container.ai_answers.get_by_hash(conn, generate_hash("¿Qué es una integral?")) is None


def test_upsert_on_the_same_hash_replaces_content_and_keeps_counters(container, conn):
    row, _ = upsert(container, conn)
    container.ai_answers.increment_usage(conn, row["id"])
    new_steps = [{**STEPS[0], "content": "Nueva versión."}]
    again, created = upsert(container, conn, "que es una derivada", steps=new_steps)
    assert not created
    assert again["id"] == row["id"]
    assert again["answer_steps"] == new_steps
    assert again["usage_count"] == 1
    assert container.ai_answers.count(conn) == 1


def test_usage_and_votes_are_counted_atomically_under_concurrency(container):
    with container.db.transaction() as conn:
        row, _ = upsert(container, conn)

    def bump():
        for _ in range(10):
            with container.db.transaction() as c:
                container.ai_answers.increment_usage(c, row["id"])
                container.ai_answers.record_vote(c, row["id"], helpful=True)

    threads = [threading.Thread(target=bump) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with container.db.connection() as conn:
        final = container.ai_answers.get_by_hash(conn, row["question_hash"])
    assert (final["usage_count"], final["helpful_votes"], final["total_votes"]) == (50, 50, 50)


def test_unhelpful_vote_counts_only_in_total(container, conn):
    row, _ = upsert(container, conn)
    assert container.ai_answers.record_vote(conn, row["id"], helpful=False) == {
        "helpful_votes": 0,
        "total_votes": 1,
    }


def test_seeded_exam_question_is_found_by_code(container, conn):
    question = container.questions.get_by_code(conn, "2024Algebra14")
    assert question["subject"] == "algebra"
    assert question["correct_answer"] in question["options"]
    assert question["use_latex"] is True
    assert container.questions.get_by_code(conn, "NoExiste") is None


def search(container, conn, **filters):
    values = {"subject": None, "topic": None, "difficulty": None, "tag": None, "text": None}
    return container.questions.search(conn, **{**values, **filters}, after=None, limit=100)


def test_question_bank_filters_by_subject_most_likely_first(container, conn):
    rows = search(container, conn, subject="calculo")
    assert {r["subject"] for r in rows} == {"calculo"}
    probabilities = [r["exam_probability"] for r in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    hard = search(container, conn, subject="calculo", difficulty="hard")
    assert hard[0]["code"] == "2024Calculo12"
    subjects = {r["subject"] for r in search(container, conn)}
    assert {"algebra", "calculo", "fisica", "geometria", "quimica"} <= subjects


def test_exam_attempts_are_counted(container, conn):
    question = container.questions.get_by_code(conn, "2023Fisica03")
    container.questions.record_attempt(conn, question["id"], correct=True)
    counts = container.questions.record_attempt(conn, question["id"], correct=False)
    assert counts == {"times_seen": 2, "times_correct": 1}
