"""The one place for what visitors read: every message and every sentence of prose the page, API clients
and MCP tools get, in Spanish: refusals at the server's edge, input problems, notes, verdicts, the
similarity reading, the page's explanations.

Each message is a ``str.format`` template with named fields; the caller computes the parts (counts,
joined lists, cut-down values) and fills them in, e.g. ``messages.EMPTY_TEXT.format(label=label)``.
Short labels and words (a button, a column, a tab's name, the field a message names) stay beside the code
that uses them, mostly the pages that lay them out (``space/pages``).
Messages for developers (bad arguments, broken invariants) stay in English where they are raised.
``tests/test_layers.py`` fails on a Spanish sentence anywhere else in ``core/``, ``space/`` or ``app.py``.

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


# The server's edge: refused before the app's code runs (space.edges, space.quotas)
BODY_TOO_LARGE = (
    "La petición ocupa {size} y el máximo es {limit}: envía textos más cortos "
    "(o un archivo de hasta 10 MB en la subida)."
)
UNKNOWN_ENDPOINT = "No existe el punto /{name}. Los disponibles son: {names}."
BAD_CALL = (
    'El cuerpo debe ser JSON con una lista "data" de valores, p. ej. {{"data": ["una frase", "otra"]}}.'
)
TOO_FEW_VALUES = (
    "/{name} necesita {required} valores, uno por entrada ({names}; null donde valga el de por defecto); "
    "llegaron {sent}."
)
QUEUE_FULL = "El Space está atendiendo a muchas personas ahora mismo: vuelve a intentarlo en un minuto."
BUSY = "Espera a que terminen tus consultas: has enviado {count} seguidas y el máximo es {burst}."
WAITING = "Espera a que terminen tus consultas: tienes {count} en la cola y el máximo es {limit}."
UPLOADS_BUSY = "Has subido demasiados archivos seguidos ({count}); espera un minuto y vuelve a intentarlo."
DISK_FULL = (
    "El Space guarda ahora demasiados archivos subidos ({used} de {budget}); vuelve a intentarlo en "
    "unos minutos."
)

# A call's inputs that Gradio refuses before the app's code (space.pages.intake)
NOT_PUBLIC = (
    "No se descarga {url}: solo se aceptan enlaces http(s) a direcciones públicas de internet, no "
    "locales ni privadas. Sube el archivo o usa un enlace público."
)
NOT_DOWNLOADED = "No se pudo descargar {url} ({reason}): comprueba el enlace o sube el archivo."
NO_SUCH_HOST = "ese nombre no existe"
HTTP_STATUS = "código {status}"
NO_ANSWER = "no responde"
NOT_UPLOADED = (
    "El archivo {path} no se subió a este Space: súbelo antes (POST /gradio_api/upload) o envía un "
    "enlace http(s) público."
)
BAD_FILE = (
    "Lo enviado para /{name} no es un archivo: envía el objeto que devuelve la subida "
    '({{"path": ..., "meta": {{"_type": "gradio.FileData"}}}}), un enlace http(s) público, o con '
    "gradio_client, handle_file(...)."
)
BAD_VALUE = "Un valor enviado a /{name} no es válido ({reason}): revisa el tipo de cada entrada."

# Waiting: the warm-up after the page is served, the one heavy slot, a plot that failed
WARM_UP = {
    "running": "⏳ **Cargando el modelo…** La primera respuesta tarda unos segundos más; la página ya "
    "funciona.",
    "corpus": "⏳ **Preparando el corpus de noticias** (embeddings y mapa). La similitud ya responde; la "
    "búsqueda y el mapa, en cuanto termine.",
    "faster": "⚙️ Todo funciona. En segundo plano se prepara una versión más rápida del modelo, que "
    "entrará sola, sin cambiar los resultados.",
}
WAITING_FOR_HEAVY = "Esperando a que termine otro cálculo largo (una subida, una evaluación, un mapa nuevo)"
FIGURE_FAILED = "No se pudo dibujar el gráfico: {error}"

# The similarity reading: a calibrated 0–5 score in words (highest threshold first), and the range
# people gave pairs with a cosine like it
READINGS = (
    (4.5, "Casi lo mismo: dicen prácticamente lo mismo."),
    (3.5, "Muy parecidas: comparten la idea principal, con detalles distintos."),
    (2.0, "Relacionadas: comparten algunos detalles."),
    (1.0, "Mismo tema, distinto contenido."),
    (float("-inf"), "Distintas: tratan de cosas diferentes."),
)
READING = "{score}/5 · {words}"
READING_BAND = " Con un coseno así, las personas puntuaron entre {low} y {high}."
SIMILARITY_EXPLAINED = (
    "La lectura de 0 (temas distintos) a 5 (mismo significado) está calibrada con pares puntuados por "
    "personas. El coseno es la medida en bruto del modelo: en e5 casi todo queda entre 0,7 y 1, porque "
    "sus vectores apuntan todos en direcciones parecidas; por eso no se lee como un porcentaje."
)

# The corpus in use (search tab, banner, uploads)
CORPUS_BANNER = "**Corpus activo:** {name} · {count} textos ({where})"
YOUR_FILE = "tu archivo, solo en tu sesión"
FOR_EVERYONE = "para todos"
UPLOAD_SUMMARY = "Buscando en **{name}**: {count} textos (solo en tu sesión)."
SHARED_CORPUS = "Usando el corpus de todos."
UPLOAD_TITLE = "Tu propio corpus (CSV / TSV / JSONL / JSON / TXT, hasta 10 MB y 20.000 filas)"
UPLOAD_HELP = (
    "Una columna de texto (`text`, `texto`, `body`…) y, si quieres, `title`/`título` y "
    "`section`/`sección`; CSV con comas o con punto y coma. "
    "Tu archivo pasa a ser el corpus de todas las pestañas, solo para ti."
)
SEARCH_MODES_EXPLAINED = (
    "significado: lo que quiere decir · palabras: las que escribes · ambos: las dos cosas"
)
PICK_A_ROW = "*Pulsa una fila para leer el texto completo.*"

# Map and duplicates
MAP_SENTENCE_EXAMPLE = "p. ej. el Barça ficha a un delantero"
MAP_BY_SECTION = "{name}: por sección"
MAP_BY_CLUSTER = "{name}: clusters ({method}), etiquetados por c-TF-IDF"
NO_SECTION = "sin sección"
NOISE = "ruido"
DUPLICATES_THRESHOLD = "Umbral en la escala 0–5 (3,5: comparten la idea principal)"
DUPLICATES_FOUND = "{count} pares con lectura ≥ {threshold}/5 (coseno ≥ {cosine}) en {name}"
KNOWN_DUPLICATES = "; de las {known} historias contadas dos veces, aparecen {found}."

# Evaluation
STS_FILE_LABEL = "Tu archivo STS (opcional): sentence1, sentence2, score de 0 a 5; hasta 2 MB y 5.000 pares"
OWN_FILE_NOTE = "Tu archivo {name}: {pairs} pares."
SMALL_SET_NOTE = " Con menos de {minimum} pares la correlación varía mucho: mira el intervalo."
BUNDLED_SET_NOTE = "Conjunto STS propio del proyecto (150 pares, `assets/sts_es_test.jsonl`)."
HUB_SET_MISSING = " stsb_multi_mt no está disponible: {reason}."
HUB_OFFLINE = "este servidor funciona sin conexión al Hub"
HUB_SILENT = "el Hub no responde desde este servidor"
HUB_DOWNLOAD_FAILED = "no se pudo descargar del Hub"
EVALUATING = "Evaluando {model} en {dataset}"
NEEDS_TWO_MODELS = (
    "**¿Mejoró el ajuste?** Hace falta servir dos modelos (por ejemplo el base y el ajustado, con "
    "`MODELS=base,ajustado`) para compararlos par a par."
)
BETTER = "Sí: el segundo modelo ordena los pares mejor que el primero."
WORSE = "No: el segundo modelo ordena los pares peor que el primero."
NO_CLEAR_DIFFERENCE = (
    "No se puede afirmar: el intervalo incluye el cero (con estos pares no hay diferencia clara)."
)
IMPROVEMENT = (
    "**¿Mejoró el ajuste?** {answer}\n\n"
    "Spearman de `{after}` menos el de `{before}` en {dataset}: **{difference}** (IC 95 % [{low}, {high}], "
    "p = {p}; bootstrap pareado, {resamples} remuestreos de {pairs} pares; los dos modelos en {backend})."
)

# The introduction and the about tab
INTRODUCTION = (
    "Un modelo de *embeddings* convierte cada frase en un vector: frases que significan lo mismo quedan "
    "cerca aunque usen otras palabras. Modelo{plural}: {models}{code}.\n\n"
    "**Similitud**: cuánto se parecen dos frases, de 0 a 5. · **Búsqueda semántica**: noticias por su "
    "significado, o tu propio archivo. · **Mapa de clusters**: el corpus en un mapa, por temas. · "
    "**Duplicados**: textos que cuentan lo mismo. · **Evaluación**: cómo puntúa el modelo en un conjunto "
    "STS en español (o en el tuyo). · **Acerca de**: el modelo, el corpus y cómo usarlo desde código."
)
ABOUT_CALIBRATION = (
    "La lectura de 0 a 5 está calibrada para cada modelo con pares STS en español "
    "(`assets/sts_es_dev.jsonl` y `assets/sts_es_calibration.jsonl`)."
)
ABOUT_CORPUS = "{name} ({where}): {count} textos en {sections}."
THE_SHARED_CORPUS = "el corpus de todos"
ABOUT_MCP = (
    "Este Space es también un servidor MCP: sus herramientas son `similarity`, `search` y `evaluate`. "
    "Añádelo a tu cliente MCP (Claude Desktop, Cursor…) con:"
)
TRAINING_SUMMARY = "STS test Spearman {before}{after}, {steps} pasos"
NO_TRAINING_SUMMARY = "sin resumen (no hay metrics.json junto al modelo)"
