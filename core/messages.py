"""The one place for what visitors read: every message the app, API clients and MCP tools get, in Spanish.

Each message is a ``str.format`` template with named fields; the caller computes the parts (counts,
joined lists, cut-down values) and fills them in, e.g. ``messages.EMPTY_TEXT.format(label=label)``.
Messages for developers (bad arguments, broken invariants) stay in English where they are raised.

This module imports nothing from the project: every other layer may use it.
"""

# Texts and numbers
EMPTY_TEXT = "Escribe {label}: está vacía."
TEXT_TOO_LONG = "{label} pasa de {max_chars} caracteres: se usan los primeros."
TOO_MANY_TOKENS = "{label} tiene {tokens} tokens: el modelo solo lee los primeros {max_tokens}."
TOO_FEW_LINES = "Escribe al menos {label}, una por línea."
TOO_MANY_SENTENCES = "Demasiadas frases: enviaste {count} y el máximo es {maximum}; quita {extra}."
NO_CI = "sin IC: hacen falta al menos {minimum} pares"
SENTENCE_TOO_LONG = "Alguna frase pasa de {max_chars} caracteres: se usan los primeros."
NOT_A_WHOLE_NUMBER = "{name} debe ser un número entero entre {low} y {high} (llegó {sent!r})."
NUMBER_OUT_OF_RANGE = "{name} debe ser un número mayor que {low} y hasta {high} (llegó {sent!r})."
UNKNOWN_CHOICE = "Valor no válido para {name} ({sent!r}): elige entre {choices}."

# Configured corpus ($CORPUS)
CORPUS_FILE_MISSING = "El corpus {spec} no existe: revisa CORPUS o quítala para usar las noticias incluidas."
HUB_CORPUS_UNAVAILABLE = (
    "No se pudo cargar el corpus {spec!r} del Hub ({error}): revisa CORPUS, o "
    "quítala para usar las noticias incluidas."
)

# Embedded corpora ($CORPUS=corpus.parquet)
EMBEDDED_MISSING = (
    "{spec}: no hay un corpus con embeddings ahí; créalo con "
    "python -m trainer predict --embed ARCHIVO --output corpus.parquet."
)
EMBEDDED_FOREIGN = (
    "{spec} no es un corpus con embeddings de este proyecto, o mezcla partes de varios trabajos."
)
EMBEDDED_INCOMPLETE = (
    "{spec}: hay {found} de {total} partes; el trabajo de embeddings no terminó. "
    "Vuelve a lanzar el mismo comando: continúa donde se quedó."
)
EMBEDDED_BY_OTHER_MODEL = (
    "{name} se calculó con otro modelo ({model}); sus vectores no sirven para las consultas de este. "
    "Sírvelo con MODEL_ID={model}, o vuelve a calcularlo con python -m trainer predict --embed."
)

# Uploaded corpora
UNSUPPORTED_FILE_TYPE = "{name}: tipo de archivo no admitido; sube un .csv, .tsv, .jsonl, .json o .txt."
FILE_TOO_LARGE = "{name} ocupa {megabytes:.1f} MB; el máximo es 10 MB. Divide el archivo."
BINARY_FILE = "{name} es un archivo binario, no texto: sube texto UTF-8."
NOT_UTF8 = "{name} no está en UTF-8: guárdalo como texto UTF-8 y vuelve a subirlo."
FILE_UNREADABLE = "No se pudo leer {name} ({error}): vuelve a subirlo."
CSV_UNREADABLE = (
    "{name}: el CSV no se puede leer ({error}). Revisa las comillas: un texto con comas o "
    "saltos de línea va entre comillas dobles."
)
RAGGED_ROW = (
    "{name}: la fila de la línea {line} tiene {fields} campos y la cabecera {columns}. "
    "Pon entre comillas dobles los textos que llevan {separator}."
)
BAD_JSON_LINE = (
    "{name}: la línea {line} no es JSON válido ({error}); cada línea debe ser un "
    'objeto como {{"text": "..."}}, o el archivo un array [...] de objetos.'
)
BAD_JSON = "{name}: JSON no válido en la línea {line} ({error})."
JSON_MISSING_COMMA = "{name}: JSON no válido en la línea {line} (falta una coma o el cierre ']')."
NUMBER_TOO_LONG = "{name} tiene un número de miles de cifras: córtalo o ponlo entre comillas como texto."
FIELD_TOO_LONG = (
    "{name}: un campo de la fila de la línea {line} ocupa más de 128 KB; seguramente falta cerrar "
    "unas comillas dobles. Ciérralas (o divide el texto) y vuelve a subirlo."
)
JSON_TOO_DEEP = "{name} tiene JSON anidado a demasiada profundidad: cada fila debe ser un objeto plano."
TOO_MANY_ROWS = "{name} tiene más de {maximum} filas (el máximo): súbelo en partes."
NO_ROWS = "{name} no tiene filas: necesita una columna de texto ({columns})."
NO_TEXT_COLUMN = "{name} no tiene columna de texto: llama a una columna {columns} (encontradas: {found})."
EMPTY_TEXT_COLUMN = "{name}: la columna {column!r} está vacía en todas las filas."

# Reading notes (how a corpus was read)
TEXTS_CUT = "{count} se {verb} a sus primeros caracteres (el modelo lee ~500 tokens)."
ROWS_SKIPPED = "{count} sin texto se {verb}."

# Models
MODEL_UNAVAILABLE = (
    "El modelo {spec} no se puede cargar en este servidor ahora mismo. El motivo queda en el registro "
    "del servidor: vuelve a intentarlo más tarde."
)
UNKNOWN_MODEL = "Modelo no disponible: {spec}. Elige uno de: {choices}."

# Search, map and duplicates
NO_FILE = "Elige un archivo CSV, TSV, JSONL, JSON o TXT."
UPLOAD_EVICTED = (
    "El servidor ya no guarda los embeddings de {name} con este modelo (guarda un número limitado de "
    "archivos): vuelve a subirlo, o vuelve al corpus de noticias."
)
UNKNOWN_SECTION = "La sección {section!r} no está en {name}: elige una de la lista."
MAP_SAMPLE = "{name} (muestra fija de {shown} de {total} textos)"
DUPLICATES_TOO_LARGE = (
    "{name} tiene {count} textos: buscar duplicados en directo compara cada par, y el máximo aquí es "
    "{maximum}. Sube una parte del corpus (por ejemplo, una sección) para buscarlos."
)
MAP_TOO_SMALL = (
    "El mapa necesita al menos {minimum} textos y {name} tiene {count}: sube un archivo con más filas."
)
NO_ROW_CHOSEN = "Elige una fila de los resultados para leer el texto completo."

# A visitor's own STS file (evaluation)
STS_FILE_TYPE = "{name}: tipo de archivo no admitido; sube un .csv, .tsv, .jsonl o .json."
STS_FILE_TOO_BIG = "{name} pasa de {limit}: un archivo STS de ese tamaño tiene demasiados pares; divídelo."
STS_FILE_EMPTY = "{name} no tiene pares: necesita las columnas sentence1, sentence2 y score."
STS_FILE_TOO_MANY = "{name} tiene más de {limit} pares (el máximo): evalúa una parte."
STS_FILE_COLUMNS = (
    "{name} necesita las columnas sentence1, sentence2 y score (puntuación de 0 a 5, o de 0 a 1); "
    "encontradas: {found}."
)
STS_FILE_ROW = (
    "{name}: la fila {row} no sirve: necesita dos frases y una puntuación entre 0 y 5 "
    "(con punto o coma decimal). Corrígela y vuelve a subirlo."
)
STS_FILE_TOO_FEW = (
    "{name}: hacen falta al menos 3 pares con puntuaciones distintas para calcular una correlación."
)
STS_FILE_UNREADABLE = (
    "{name} no se puede leer: revisa que sea CSV/TSV con cabecera, JSON Lines (un objeto por línea) o un "
    "array JSON de objetos."
)

# The evaluation tab's tables (the page is built from these before the evaluation code is imported).
TABLE_COLUMNS = ["modelo", "conjunto", "Spearman", "Pearson", "IC 95 %", "pares", "inferencia", "en caché"]
CHANGED_COLUMNS = ["frase 1", "frase 2", "referencia", "antes (0–5)", "después (0–5)", "cambio"]
