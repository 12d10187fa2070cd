-- The canvas library: named, parameterized drawings a lesson step uses as
-- {"type": "template", "name", "params"}. The drawing code is app/utils/canvas_templates.py;
-- each row says what the template draws and which parameters it takes (every template also
-- takes the box x, y, width, height), and counts the lessons that used it. Idempotent.

INSERT INTO canvas_library (name, category, commands, tags)
VALUES
    ('cartesian_axes', 'calculo',
     '{"description": "Ejes cartesianos con marcas y cuadrícula opcional", "params": {"x_min": {"type": "number", "default": -10, "min": -1000000.0, "max": 1000000.0}, "x_max": {"type": "number", "default": 10, "min": -1000000.0, "max": 1000000.0}, "y_min": {"type": "number", "default": -10, "min": -1000000.0, "max": 1000000.0}, "y_max": {"type": "number", "default": 10, "min": -1000000.0, "max": 1000000.0}, "grid": {"type": "bool", "default": true}, "x_label": {"type": "text", "default": "x"}, "y_label": {"type": "text", "default": "y"}}}',
     ARRAY['funciones', 'gráficas']::text[]),
    ('number_line', 'aritmetica',
     '{"description": "Recta numérica con puntos marcados", "params": {"min": {"type": "number", "default": -5, "min": -1000000.0, "max": 1000000.0}, "max": {"type": "number", "default": 5, "min": -1000000.0, "max": 1000000.0}, "points": {"type": "numbers", "default": []}}}',
     ARRAY['enteros', 'intervalos']::text[]),
    ('unit_circle', 'trigonometria',
     '{"description": "Circunferencia unitaria con un ángulo", "params": {"angle": {"type": "number", "default": 30, "min": -720, "max": 720}, "show_values": {"type": "bool", "default": true}}}',
     ARRAY['seno', 'coseno', 'ángulos']::text[]),
    ('right_triangle', 'geometria',
     '{"description": "Triángulo rectángulo con sus lados rotulados", "params": {"a": {"type": "number", "default": 3, "min": 0.01, "max": 1000000.0}, "b": {"type": "number", "default": 4, "min": 0.01, "max": 1000000.0}, "labels": {"type": "texts", "default": []}}}',
     ARRAY['pitágoras', 'trigonometría']::text[]),
    ('vector_addition', 'fisica',
     '{"description": "Suma de vectores por la regla del paralelogramo", "params": {"u": {"type": "vector", "default": [3, 1]}, "v": {"type": "vector", "default": [1, 2]}}}',
     ARRAY['vectores']::text[]),
    ('free_body', 'fisica',
     '{"description": "Diagrama de cuerpo libre con sus fuerzas", "params": {"body": {"type": "text", "default": "m"}, "forces": {"type": "forces", "default": [["P", 270, 1], ["N", 90, 1]]}}}',
     ARRAY['fuerzas', 'newton']::text[]),
    ('inclined_plane', 'fisica',
     '{"description": "Plano inclinado con un bloque y sus fuerzas", "params": {"angle": {"type": "number", "default": 30, "min": 5, "max": 75}, "forces": {"type": "bool", "default": true}}}',
     ARRAY['fuerzas', 'rozamiento']::text[]),
    ('parabola', 'algebra',
     '{"description": "Parábola y = ax² + bx + c con vértice y raíces", "params": {"a": {"type": "number", "default": 1, "min": -100, "max": 100}, "b": {"type": "number", "default": -2, "min": -1000, "max": 1000}, "c": {"type": "number", "default": -3, "min": -1000, "max": 1000}}}',
     ARRAY['cuadrática', 'raíces']::text[]),
    ('bar_chart', 'estadistica',
     '{"description": "Gráfico de barras", "params": {"labels": {"type": "texts", "default": ["A", "B", "C"]}, "values": {"type": "numbers", "default": [3, 5, 2]}, "title": {"type": "text", "default": ""}}}',
     ARRAY['frecuencias']::text[]),
    ('venn_diagram', 'estadistica',
     '{"description": "Diagrama de Venn de dos o tres conjuntos", "params": {"sets": {"type": "integer", "default": 2, "min": 2, "max": 3}, "labels": {"type": "texts", "default": ["A", "B"]}, "universe": {"type": "text", "default": "U"}}}',
     ARRAY['conjuntos', 'probabilidad']::text[]),
    ('triangle', 'geometria',
     '{"description": "Triángulo con vértices rotulados", "params": {"vertices": {"type": "numbers", "default": [[0, 0], [4, 0], [1, 3]]}, "names": {"type": "texts", "default": ["A", "B", "C"]}}}',
     ARRAY['ángulos', 'áreas']::text[]),
    ('fraction_bar', 'aritmetica',
     '{"description": "Barra dividida en partes iguales: una fracción", "params": {"numerator": {"type": "integer", "default": 3, "min": 0, "max": 24}, "denominator": {"type": "integer", "default": 4, "min": 1, "max": 24}}}',
     ARRAY['fracciones']::text[]),
    ('pie_chart', 'estadistica',
     '{"description": "Gráfico circular con porcentajes", "params": {"labels": {"type": "texts", "default": ["A", "B", "C"]}, "values": {"type": "numbers", "default": [50, 30, 20]}}}',
     ARRAY['porcentajes']::text[])
ON CONFLICT (name) DO UPDATE SET
    category = EXCLUDED.category,
    commands = EXCLUDED.commands,
    tags = EXCLUDED.tags;
