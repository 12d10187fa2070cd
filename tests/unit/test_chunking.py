from hypothesis import given, settings
from hypothesis import strategies as st

from app.utils.chunking import commands_due, latex_spans, split_into_chunks

STEP = (
    "La derivada mide el cambio instantáneo: $f'(x)=\\lim_{h\\to 0}\\frac{f(x+h)-f(x)}{h}$. "
    "Por ejemplo, $$\\frac{d}{dx}x^2 = 2x$$ y cuesta \\$5 aprenderlo."
)


def test_chunks_rebuild_the_content_exactly():
    chunks = split_into_chunks(STEP, target=12)
    assert "".join(c.text for c in chunks) == STEP
    assert [c.start for c in chunks[1:]] == [c.end for c in chunks[:-1]]
    assert chunks[-1].end == len(STEP)


def test_chunks_end_at_word_boundaries_and_never_inside_latex():
    spans = latex_spans(STEP)
    assert len(spans) == 2
    for chunk in split_into_chunks(STEP, target=8)[:-1]:
        assert STEP[chunk.end - 1].isspace() and not STEP[chunk.end].isspace()
        assert not any(start < chunk.end < end for start, end in spans)


def test_a_formula_longer_than_the_target_is_one_chunk():
    chunks = split_into_chunks(STEP, target=5)
    formulas = [c.text for c in chunks if "$" in c.text and "\\lim" in c.text]
    assert formulas and formulas[0].count("$") == 2


def test_an_escaped_dollar_is_not_latex():
    assert latex_spans("cuesta \\$5 y \\$6") == []


def test_drawings_fall_in_the_chunk_that_reaches_their_offset():
    chunks = split_into_chunks("uno dos tres cuatro cinco", target=4)
    ats = [0, 4, 5, 24, 25]
    placed = [commands_due(chunk, ats) for chunk in chunks]
    assert [index for indexes in placed for index in indexes] == [0, 1, 2, 3, 4]
    assert placed[0] == [0, 1]


words = st.text(alphabet="abcdeñáé0123+-=()", min_size=1, max_size=9)
latex = words.map(lambda w: f"${w}$") | words.map(lambda w: f"$${w}$$")
texts = st.lists(st.one_of(words, latex), min_size=1, max_size=40).flatmap(
    lambda parts: st.lists(
        st.sampled_from([" ", "  ", "\n", " \n "]), min_size=len(parts), max_size=len(parts)
    ).map(lambda seps: "".join(p + s for p, s in zip(parts, seps, strict=True)).strip())
)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=1, max_value=40))
def test_any_text_chunks_back_to_itself_without_splitting_formulas(text, target):
    chunks = split_into_chunks(text, target)
    assert "".join(c.text for c in chunks) == text
    spans = latex_spans(text)
    for chunk in chunks[:-1]:
        assert not any(start < chunk.end < end for start, end in spans)
        assert text[chunk.end - 1].isspace()
    for chunk in chunks:
        single_word = len(chunk.text.split()) <= 1 or any(
            s <= chunk.start < e or s < chunk.end <= e for s, e in spans
        )
        assert len(chunk.text.rstrip()) <= target or single_word


def test_waiting_phrases_never_repeat_back_to_back():
    import random

    from app.utils.phrases import PHRASES, pick_phrase

    rng = random.Random(3)
    # ("problem" is the seed's one phrase for a failing provider, said as it is.)
    for category in (name for name, phrases in PHRASES.items() if len(phrases) > 1):
        last = None
        for _ in range(200):
            phrase = pick_phrase(category, last, rng)
            assert phrase != last and phrase in PHRASES[category]
            last = phrase
