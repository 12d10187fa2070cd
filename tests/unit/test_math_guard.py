"""The math guard: which rewordings of a question may share one stored answer."""

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.utils.math_guard import MathSignature, math_signature, same_math
from app.utils.text_processing import normalize_text

FIXTURE = Path(__file__).parents[1] / "fixtures" / "paraphrases.json"


def same(a: str, b: str) -> bool:
    return same_math(normalize_text(a), normalize_text(b))


def signature(text: str) -> MathSignature:
    return math_signature(normalize_text(text))


def load_fixture() -> dict[str, list[list[str]]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("derivada de x^2", "derivada de x^3"),
        ("derivada de x al cuadrado", "derivada de x al cubo"),
        ("derivada de x^2", "derivada de x^-2"),
        ("derivada de e^x", "derivada de e^-x"),
        ("resuelve x^2+y=4", "resuelve x+y^2=4"),
    ],
)
def test_exponent_change_is_a_different_question(a, b):
    assert not same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("derivada de x al cuadrado", "derivada de x²"),
        ("cual es la derivada de x al cubo", "deriva x^3"),
        ("como derivo e elevado a la x", "derivada de e^x"),
        ("integral de e elevado a la 2x", "integral de e^(2x)"),
        ("2 elevado a 10", "2^10"),
    ],
)
def test_exponent_in_words_is_the_same_as_a_caret(a, b):
    assert same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("área de un círculo de radio 3", "área de un círculo de radio 5"),
        ("cuanto es 2,5+1", "cuanto es 25+1"),
        ("media de 2,4,6,8", "media de 2,4,6,9"),
        ("cuanto es 2*3*3", "cuanto es 2*2*3"),
        ("seno de 30 grados", "seno de -30 grados"),
    ],
)
def test_number_change_is_a_different_question(a, b):
    assert not same(a, b)


def test_decimal_comma_and_point_are_the_same_number():
    assert same("cuánto es 2,5 + 1,5", "cuanto es 2.5+1.5")
    assert signature("2,50 + 1,5").numbers == ("1.5", "2.5")


def test_three_comma_separated_numbers_are_a_list_and_a_bracketed_pair_is_a_point():
    assert signature("media de 2,4,6,8").numbers == ("2", "4", "6", "8")
    assert same("distancia entre (1,2) y (4,6)", "distancia entre (1, 2) y (4, 6)")
    assert not same("media de 2,5 y 3", "media de 2, 5 y 3")


def test_spanish_number_words_are_numbers():
    assert same("cuanto es dos mas tres", "cuanto es 2+3")
    assert signature("treinta y cinco mas dos y medio").numbers == ("2.5", "35")


def test_articles_un_and_una_are_not_the_number_one():
    assert signature("área de un círculo de radio 3").numbers == ("3",)
    assert same("área de un círculo de radio 3", "área del círculo de radio 3")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cuanto es 2+3", "cuanto es 2-3"),
        ("cuanto es 2*3", "cuanto es 2/3"),
        ("resuelve x<3", "resuelve x>3"),
        ("resuelve x<=3", "resuelve x<3"),
        ("cuanto es dos mas tres", "cuanto es dos menos tres"),
        ("factoriza x^2-9", "factoriza x^2+9"),
    ],
)
def test_operator_change_is_a_different_question(a, b):
    assert not same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cuanto es 8/2", "cuanto es 2/8"),
        ("cuanto es 5-3", "cuanto es 3-5"),
        ("resuelve x+2=5", "resuelve x+5=2"),
        ("P(A|B) si P(A)=0,3", "P(B|A) si P(A)=0,3"),
        ("convierte 72 km/h a m/s", "convierte 72 m/s a km/h"),
    ],
)
def test_swapping_the_operands_of_a_non_commutative_operation_is_a_different_question(a, b):
    assert not same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cuanto es 10 entre 2", "cuanto es 10/2"),
        ("cuanto es 10 dividido entre 2", "10/2"),
        ("cuanto es 3 por 4", "3*4"),
        ("resuelve x al cuadrado menos 4 igual a 0", "resuelve x^2-4=0"),
        ("calcula el 20 por ciento de 150", "cuanto es el 20% de 150"),
        ("limite de sen(x)/x cuando x tiende a 0", "lim x->0 sen(x)/x"),
    ],
)
def test_operator_words_are_the_same_as_symbols(a, b):
    assert same(a, b)


def test_entre_a_y_b_is_a_range_not_a_division():
    assert same("calcula la integral de x^2 entre 0 y 1", "integral de 0 a 1 de x^2")
    assert not any("/" in op for op in signature("integral de x^2 entre 0 y 1").operators)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cuanto es 2x+3 si x=1", "cuanto es 3x+2 si x=1"),
        ("cuanto es 2+3*4", "cuanto es 3+2*4"),
        ("derivada de x^2y", "derivada de xy^2"),
        ("derivada de sen(2x)", "derivada de sen^2(x)"),
    ],
)
def test_which_factors_multiply_matters(a, b):
    assert not same(a, b)


def test_written_and_implicit_products_are_the_same():
    assert same("2x", "2*x")
    assert same("2x", "2 por x")
    assert same("derivada de f(x) = x^2 sen(x)", "cual es la derivada de x^2*sen(x)")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sen(x)", "sin(x)"),
        ("derivada de sen(x)", "cual es la derivada del seno de x"),
        ("derivada de ln(x)", "derivada del logaritmo natural de x"),
        ("arcoseno de 0,5", "cuanto es arcsen(0.5)"),
        ("raiz cuadrada de 25", "√25"),
        ("valor de tan 45°", "valor de la tangente de 45 grados"),
        ("cuanto es 5!", "factorial de 5"),
        ("minimo comun multiplo de 12 y 18", "mcm de 12 y 18"),
    ],
)
def test_spellings_of_one_function_are_the_same_function(a, b):
    assert same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("seno de 30 grados", "coseno de 30 grados"),
        ("derivada de log(x)", "derivada de ln(x)"),
        ("logaritmo de 100", "logaritmo natural de 100"),
        ("arcoseno de 0,5", "arcocoseno de 0,5"),
        ("tangente de 30 grados", "cotangente de 30 grados"),
        ("raiz cuadrada de 27", "raiz cubica de 27"),
        ("derivada de tan(x)", "derivada de arctan(x)"),
        ("mcd de 12 y 18", "mcm de 12 y 18"),
        ("integral de 2x", "derivada de 2x"),
    ],
)
def test_different_functions_are_different_questions(a, b):
    assert not same(a, b)


def test_the_base_of_a_logarithm_is_part_of_it():
    assert same("log_2(8)", "logaritmo en base 2 de 8")
    assert not same("log base 2 de 8", "log base 8 de 2")


def test_the_order_of_a_derivative_counts():
    assert same("segunda derivada de x^4", "calcula f''(x) si f(x)=x^4")
    assert not same("derivada de x^2", "segunda derivada de x^2")
    assert not same("f'(x) si f(x)=x^2", "f''(x) si f(x)=x^2")


def test_a_sum_inside_a_function_differs_from_a_sum_after_it():
    assert not same("sqrt(x+1)", "sqrt(x)+1")
    assert not same("log(x+1)", "log(x)+1")
    assert not same("sen(x)^2", "sen(x^2)")
    assert same("demuestra que sen^2(x)+cos^2(x)=1", "como demuestro sen²x + cos²x = 1")


def test_conjunction_y_is_not_a_variable():
    assert signature("área de un rectángulo de base 3 y altura 5").variables == frozenset()
    assert same("resuelve x+y=10, x-y=2", "resuelve x+y=10 y x-y=2")


def test_preposition_a_is_not_a_variable():
    assert signature("derivada de x^3 respecto a x").variables == {"x"}


def test_a_letter_after_despeja_is_the_variable_asked_for():
    assert signature("despeja y en 3x+2y=12").targets == {"y"}
    assert not same("despeja y en 3x+2y=12", "despeja x en 3x+2y=12")
    assert not same(
        "derivada parcial de x^2y respecto a x", "derivada parcial de x^2y respecto a y"
    )


def test_naming_the_only_variable_changes_nothing():
    assert same("derivada de x^3 respecto a x", "cual es la derivada de x al cubo")
    assert same("¿Cuál es el valor de x si 3x - 5 = 10?", "halla x en 3x-5=10")


def test_chat_q_is_que_but_a_q_between_variables_is_a_variable():
    assert same("q es la mitosis", "que es la mitosis")
    assert not same("tabla de verdad de p y q", "tabla de verdad de p o q")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("seno de 30 grados", "sen(30°)"),
        ("velocidad de 10 metros por segundo", "velocidad de 10 m/s"),
        ("aceleración de 9,8 metros por segundo al cuadrado", "aceleracion de 9.8 m/s^2"),
        ("area de 20 metros cuadrados", "area de 20 m^2"),
        ("resistencia de 10 ohmios", "resistencia de 10 Ω"),
        ("convierte 180 grados a radianes", "180° a radianes"),
    ],
)
def test_unit_words_and_symbols_are_the_same_unit(a, b):
    assert same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("perimetro de un cuadrado de lado 5 cm", "perimetro de un cuadrado de lado 5 m"),
        ("seno de 30 grados", "seno de 30 radianes"),
        ("seno de 30", "seno de 30 grados"),
        ("convierte 180 grados a radianes", "convierte 180 radianes a grados"),
        ("fuerza para acelerar 5 kg a 2 m/s^2", "fuerza para acelerar 5 kg a 2 m/s"),
    ],
)
def test_a_different_unit_is_a_different_question(a, b):
    assert not same(a, b)


def test_swapping_numbers_between_nouns_is_a_different_question():
    assert not same(
        "probabilidad de sacar 2 caras en 3 lanzamientos",
        "probabilidad de sacar 3 caras en 2 lanzamientos",
    )
    assert not same(
        "area de un rectangulo de base 3 y altura 5", "area de un rectangulo de base 5 y altura 3"
    )


def test_reordered_prose_that_binds_the_same_numbers_is_the_same_question():
    assert same(
        "Área de un rectángulo de base 3 y altura 5", "area de un rectangulo con altura 5 y base 3"
    )
    assert same("perímetro de un cuadrado de lado 5 cm", "perimetro de un cuadrado de 5 cm de lado")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("¿Qué es la fotosíntesis?", "explícame la fotosíntesis"),
        ("¿Cómo se calcula el área de un círculo de radio 3?", "area del circulo con radio 3"),
        ("¿Qué es una derivada?", "explicame que es la derivada"),
        ("Fases de la mitosis", "cuales son las fases de la mitosis"),
        ("¿Qué es el rango intercuartílico?", "que significa rango intercuartilico"),
        ("Función de las mitocondrias", "para que sirven las mitocondrias"),
        ("Ley de cosenos", "en que consiste la ley del coseno"),
        ("¿Qué es la desviación estándar?", "explicame la desviacion tipica"),
    ],
)
def test_question_phrasing_accents_and_articles_do_not_matter(a, b):
    assert same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("¿Qué es la mitosis?", "¿Qué es la meiosis?"),
        ("¿Qué es un enlace iónico?", "¿Qué es un enlace covalente?"),
        ("area de un circulo de radio 3", "perimetro de un circulo de radio 3"),
        ("que es la molaridad", "que es la molalidad"),
        ("ventajas de la energia solar", "desventajas de la energia solar"),
    ],
)
def test_a_different_concept_is_a_different_question(a, b):
    assert not same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("partes de la celula", "partes de la celula eucariota"),
        ("que es la mitosis", "fases de la mitosis"),
        ("area de un circulo", "area de un circulo de radio 3"),
        ("que es una integral", "que es una integral definida"),
    ],
)
def test_an_added_qualifier_is_a_different_question(a, b):
    assert not same(a, b)


def test_words_that_describe_a_stated_expression_do_not_matter():
    assert same("resuelve la ecuación 2x + 3 = 7", "como se resuelve 2x+3=7")
    assert same("como calculo la varianza de los datos 1,2,3,4,5", "varianza de 1, 2, 3, 4, 5")
    # without an expression they are what is asked
    assert not same("que es una ecuacion", "que es un sistema")


def test_question_words_that_change_the_ask_count():
    assert not same("¿Cuándo ocurre la fotosíntesis?", "¿Dónde ocurre la fotosíntesis?")
    assert not same("¿por qué el cielo es azul?", "¿de qué color es el cielo?")


def test_negation_counts():
    assert not same(
        "¿Por qué el hierro flota en el agua?", "¿Por qué el hierro no flota en el agua?"
    )


def test_chemical_formulas_and_their_names_are_the_same_compound():
    assert same("masa molar del agua", "cual es la masa molar del H2O")
    assert same("Masa molar del NaCl", "masa molar del cloruro de sodio")
    assert not same("masa molar del h2o", "masa molar del h2o2")


def test_absolute_value_bars_are_the_function():
    assert signature("|x-3|=5").functions == {"abs"}
    assert not same("resuelve |x-3|=5", "resuelve |x+3|=5")
    assert not same("resuelve |x|=3", "resuelve x=3")


def test_a_question_with_nothing_to_compare_matches_only_itself():
    assert not same("hola", "gracias")
    assert not same("¿?", "¡!")
    assert same("hola", "hola")


def test_signature_is_a_frozen_hashable_value():
    sig = signature("derivada de x^2 + 3x")
    assert sig == signature("derivada de x² + 3x")
    assert hash(sig) == hash(signature("derivada de x² + 3x"))
    assert len({sig, signature("derivada de x^2+3x")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.numbers = ()  # type: ignore[misc]


MATH_PIECES = st.sampled_from(
    [
        *"xyab qf0123456789.,^_()|!'+-*/=<>°%√π²ñ",
        *["sen", "log", "de", "y", "al cuadrado", "por", "elevado a la", "metros por segundo"],
        *["entre", "menos", "segunda", "derivada", "dos"],
    ]
)


@given(st.one_of(st.text(min_size=1), st.lists(MATH_PIECES, min_size=1).map("".join)))
def test_any_question_has_a_signature_and_matches_itself(text):
    normalized = normalize_text(text) if text.strip() else text
    assert isinstance(math_signature(normalized), MathSignature)
    assert same_math(normalized, normalized)


def test_guard_is_symmetric():
    fixture = load_fixture()
    for a, b in fixture["paraphrases"] + fixture["near_misses"]:
        assert same(a, b) == same(b, a), (a, b)


def test_fixture_covers_enough_pairs():
    fixture = load_fixture()
    assert len(fixture["paraphrases"]) >= 110
    assert len(fixture["near_misses"]) >= 110
    for a, b in fixture["paraphrases"] + fixture["near_misses"]:
        assert a.strip() and b.strip() and normalize_text(a) != normalize_text(b), (a, b)


def test_guard_rejects_every_near_miss_and_accepts_most_paraphrases():
    fixture = load_fixture()
    false_matches = [pair for pair in fixture["near_misses"] if same(*pair)]
    accepted = [pair for pair in fixture["paraphrases"] if same(*pair)]
    acceptance = len(accepted) / len(fixture["paraphrases"])
    assert false_matches == []
    assert acceptance >= 0.95, [pair for pair in fixture["paraphrases"] if not same(*pair)]
