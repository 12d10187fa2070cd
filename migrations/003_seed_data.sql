-- Seed data: the four plans and a first handful of exam questions. Idempotent, so
-- `flask --app app db seed` can apply it again at any time.

INSERT INTO subscription_plans (name, monthly_credits, daily_limit, features, price_monthly, price_yearly)
VALUES
    ('free', 10, 5,
     '{"voice": true, "exam_bank": true, "ai_generation": true, "priority": false}', 0, 0),
    ('basic', 100, 20,
     '{"voice": true, "exam_bank": true, "ai_generation": true, "priority": false}', 4.99, 49.90),
    ('premium', 400, 60,
     '{"voice": true, "exam_bank": true, "ai_generation": true, "priority": true}', 9.99, 99.90),
    ('pro', 1500, 200,
     '{"voice": true, "exam_bank": true, "ai_generation": true, "priority": true, "exam_mode": true}',
     19.99, 199.90)
ON CONFLICT (name) DO UPDATE SET
    monthly_credits = EXCLUDED.monthly_credits,
    daily_limit = EXCLUDED.daily_limit,
    features = EXCLUDED.features,
    price_monthly = EXCLUDED.price_monthly,
    price_yearly = EXCLUDED.price_yearly;

INSERT INTO questions
    (code, subject, topic, difficulty, question, options, correct_answer, explanation,
     use_latex, exam_probability, tags)
VALUES
    ('2024Algebra14', 'algebra', 'ecuaciones cuadráticas', 'medium',
     '¿Cuáles son las soluciones de $x^2 - 5x + 6 = 0$?',
     '{"a": "$x = 2$ y $x = 3$", "b": "$x = -2$ y $x = -3$", "c": "$x = 1$ y $x = 6$", "d": "$x = -1$ y $x = 6$"}',
     'a',
     'Factorizamos: $x^2 - 5x + 6 = (x-2)(x-3)$, que se anula en $x=2$ y en $x=3$.',
     TRUE, 0.85, '{ecuaciones,factorizacion}'),
    ('2024Algebra21', 'algebra', 'sistemas de ecuaciones', 'easy',
     'Si $x + y = 10$ y $x - y = 4$, ¿cuánto vale $x$?',
     '{"a": "$6$", "b": "$7$", "c": "$3$", "d": "$14$"}',
     'b',
     'Sumando ambas ecuaciones: $2x = 14$, así que $x = 7$ (y entonces $y = 3$).',
     TRUE, 0.70, '{sistemas,ecuaciones}'),
    ('2023Calculo07', 'calculo', 'derivadas', 'medium',
     '¿Cuál es la derivada de $f(x) = x^3 - 4x$?',
     '{"a": "$3x^2 - 4$", "b": "$x^2 - 4$", "c": "$3x^2 - 4x$", "d": "$3x - 4$"}',
     'a',
     'Aplicamos la regla de la potencia: $(x^3)'' = 3x^2$ y $(4x)'' = 4$, por lo que $f''(x) = 3x^2 - 4$.',
     TRUE, 0.90, '{derivadas,potencias}'),
    ('2024Calculo12', 'calculo', 'límites', 'hard',
     '¿Cuánto vale $\lim_{x \to 0} \frac{\sin x}{x}$?',
     '{"a": "$0$", "b": "$\\infty$", "c": "$1$", "d": "No existe"}',
     'c',
     'Es un límite notable: el cociente $\frac{\sin x}{x}$ se acerca a $1$ cuando $x$ tiende a $0$.',
     TRUE, 0.60, '{limites,trigonometria}'),
    ('2023Fisica03', 'fisica', 'cinemática', 'easy',
     'Un auto recorre 150 km en 2 horas a velocidad constante. ¿Cuál es su velocidad?',
     '{"a": "50 km/h", "b": "300 km/h", "c": "75 km/h", "d": "150 km/h"}',
     'c',
     'La velocidad es distancia entre tiempo: $v = \frac{150\ \text{km}}{2\ \text{h}} = 75\ \text{km/h}$.',
     TRUE, 0.75, '{velocidad,mru}'),
    ('2024Fisica09', 'fisica', 'dinámica', 'medium',
     '¿Qué fuerza neta se necesita para acelerar una masa de 5 kg a 3 m/s²?',
     '{"a": "8 N", "b": "15 N", "c": "1.67 N", "d": "2 N"}',
     'b',
     'Por la segunda ley de Newton, $F = m \cdot a = 5\ \text{kg} \cdot 3\ \text{m/s}^2 = 15\ \text{N}$.',
     TRUE, 0.80, '{newton,fuerza}'),
    ('2024Geometria05', 'geometria', 'triángulos', 'easy',
     'En un triángulo rectángulo los catetos miden 3 y 4. ¿Cuánto mide la hipotenusa?',
     '{"a": "5", "b": "7", "c": "6", "d": "12"}',
     'a',
     'Por el teorema de Pitágoras: $c = \sqrt{3^2 + 4^2} = \sqrt{25} = 5$.',
     TRUE, 0.80, '{pitagoras,triangulos}'),
    ('2023Quimica11', 'quimica', 'estequiometría', 'medium',
     '¿Cuántos moles hay en 36 g de agua ($H_2O$, masa molar 18 g/mol)?',
     '{"a": "0.5 mol", "b": "1 mol", "c": "2 mol", "d": "18 mol"}',
     'c',
     'Dividimos la masa entre la masa molar: $n = \frac{36\ \text{g}}{18\ \text{g/mol}} = 2\ \text{mol}$.',
     TRUE, 0.65, '{moles,estequiometria}')
ON CONFLICT (code) DO NOTHING;
