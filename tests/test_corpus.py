"""Corpora: the served one, uploads read as a stream, and a Spanish message for every broken file."""

from __future__ import annotations

import copy
import json
import tracemalloc

import pytest

from core.corpora.corpus import MAX_UPLOAD_ROWS, Corpus, load_corpus, read_upload, served_corpus
from core.corpora.text import MAX_TEXT_CHARS
from core.errors import CorpusError
from tests.conftest import memory_kept_by_rejections


def _write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_the_served_corpus_is_loaded_once_and_shared():
    corpus = served_corpus()
    assert corpus is served_corpus() and corpus.source == "bundled" and corpus.shared
    assert len(corpus) == 570 and len(corpus.sections) == 10
    assert copy.deepcopy(corpus) is corpus  # a Gradio State copy per session costs nothing
    rows = corpus.section_rows(corpus.sections[0])
    assert len(rows) == 57 and {corpus.items[r]["section"] for r in rows} == {corpus.sections[0]}
    assert len(corpus.section_rows("no existe")) == 0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.csv", "title,text,category\nUno,primer texto,cocina\n\"Dos, con coma\",segundo texto,viajes\n"),
        ("a.tsv", "title\ttext\tcategory\nUno\tprimer texto\tcocina\nDos, con coma\tsegundo texto\tviajes\n"),
        ("a.jsonl", '{"title": "Uno", "text": "primer texto", "category": "cocina"}\n\n'
         '{"title": "Dos, con coma", "text": "segundo texto", "category": "viajes"}\n'),
        ("a.csv", "Title;Text;Category\nUno;primer texto;cocina\n\"Dos, con coma\";segundo texto;viajes\n"),
        ("a.json", json.dumps([{"title": "Uno", "body": "primer texto", "section": "cocina"},
                               {"title": "Dos, con coma", "body": "segundo texto", "section": "viajes"}])),
    ],
)  # fmt: skip
def test_each_format_becomes_the_same_items(tmp_path, name, content):
    corpus = read_upload(_write(tmp_path, name, content))
    assert corpus.source == "upload" and not corpus.shared and corpus.name == name
    assert [(i["title"], i["body"], i["section"]) for i in corpus.items] == [
        ("Uno", "primer texto", "cocina"),
        ("Dos, con coma", "segundo texto", "viajes"),
    ]
    assert corpus.sections == ["cocina", "viajes"]


@pytest.mark.parametrize(
    ("name", "content", "bodies"),
    [
        ("uno.json", '{\n  "Texto": "un solo objeto",\n  "Título": "bonito"\n}\n', ["un solo objeto"]),
        ("lista.json", '["primero", "segundo", 3]', ["primero", "segundo"]),
        ("mezcla.jsonl", '{"Text": "mayúsculas"}\n{"text": "minúsculas"}\n', ["mayúsculas", "minúsculas"]),
        ("es.csv", "título;texto;categoría\nUno;hola;cocina\n", ["hola"]),
        ("huecos.txt", "uno\n\n\n  \ndos\n", ["uno", "dos"]),
    ],
)
def test_common_layouts_are_read_as_people_write_them(tmp_path, name, content, bodies):
    assert [item["body"] for item in read_upload(_write(tmp_path, name, content)).items] == bodies


def test_blank_lines_do_not_count_towards_the_row_limit(tmp_path):
    content = "text\n" + "".join(f"texto {i}\n\n" for i in range(MAX_UPLOAD_ROWS))
    assert len(read_upload(_write(tmp_path, "a.csv", content))) == MAX_UPLOAD_ROWS


def test_a_big_json_array_is_decoded_one_row_at_a_time(tmp_path):
    path = _write(tmp_path, "grande.json", "[" + ",".join(['{"text": "fila"}'] * 400_000) + "]")  # ~7 MB
    tracemalloc.start()
    try:
        with pytest.raises(CorpusError, match="más de 20.000 filas"):
            read_upload(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_control_characters_and_lone_surrogates_are_stripped_before_the_empty_check(tmp_path):
    rows = [{"text": "hola\x00 mundo\x07"}, {"text": "\x00\x01 \x02"}, {"text": "adi\ud800ós"}]
    content = "\n".join(json.dumps(r) for r in rows)  # JSON escapes carry the lone surrogate
    corpus = read_upload(_write(tmp_path, "a.jsonl", content))
    assert [i["body"] for i in corpus.items] == ["hola mundo", "adiós"]
    assert "1 fila sin texto se omitió." in corpus.notes  # singular for one


def test_long_texts_are_cut_with_a_note(tmp_path):
    corpus = read_upload(_write(tmp_path, "a.txt", "palabra " * 5000 + "\ncorta\n"))
    assert len(corpus.items[0]["body"]) <= MAX_TEXT_CHARS and corpus.items[1]["body"] == "corta"
    assert "1 texto largo se recortó a sus primeros caracteres (el modelo lee ~500 tokens)." in corpus.notes


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("datos.csv", "a,b\n1,2\n", "no tiene columna de texto"),
        ("vacio.csv", "text\n", "no tiene filas"),
        ("blancos.csv", "text\n  \n\x00\n", "está vacía en todas las filas"),
        ("basura.txt", b"\x00\x01\x02binary\x00", "archivo binario"),
        ("latin1.txt", "canción".encode("latin-1"), "no está en UTF-8"),
        ("datos.pdf", b"%PDF-1.4", "tipo de archivo no admitido"),
        ("torcido.csv", "title,text\nUno,texto uno\nDos,texto, sin comillas\n", "línea 3 tiene 3 campos"),
        ("enorme.csv", 'text\nuno\n"' + "x" * 200_000 + '"\n', "línea 3 ocupa más de 128 KB"),
        ("abierta.csv", 'text\n"sin cerrar\n' + "más texto\n" * 20_000, "falta cerrar unas comillas"),
        ("anidado.json", "[" * 100_000 + "]" * 100_000, "anidado"),
        ("anidado.jsonl", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "anidado"),
        ("roto.jsonl", '{"text": "bien"}\n{"text": \n', "línea 2 no es JSON válido"),
        ("roto.json", '[{"text": "bien"},', "JSON no válido"),
        ("sin-coma.json", '[{"text": "a"} {"text": "b"}]', "falta una coma"),
        ("numero.jsonl", '{"text": ' + "1" * 5000 + "}\n", "número de miles de cifras"),
    ],
)  # fmt: skip
def test_every_broken_file_is_a_spanish_message(tmp_path, name, content, message):
    with pytest.raises(CorpusError, match=message) as info:
        read_upload(_write(tmp_path, name, content))
    assert name in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_an_upload_stops_at_the_row_after_the_limit(tmp_path):
    path = _write(tmp_path, "muchas.txt", "".join(f"texto {i}\n" for i in range(MAX_UPLOAD_ROWS + 1)))
    with pytest.raises(CorpusError, match="más de 20.000 filas"):
        read_upload(path)
    exactly = _write(tmp_path, "justas.txt", "".join(f"texto {i}\n" for i in range(MAX_UPLOAD_ROWS)))
    assert len(read_upload(exactly)) == MAX_UPLOAD_ROWS


def test_a_file_over_10_mb_is_refused_before_reading(tmp_path):
    path = _write(tmp_path, "grande.txt", b"a" * (10 * 1024 * 1024 + 1))
    with pytest.raises(CorpusError, match="el máximo es 10 MB"):
        read_upload(path)


def test_a_rejected_upload_leaves_nothing_behind_even_without_the_garbage_collector(tmp_path):
    """Regression: an error chained to the parse kept ~330 MB per rejected 10 MB file until a gc pass."""
    line = "una línea de texto de ejemplo con unas cuantas palabras más\n"
    path = _write(tmp_path, "rechazo.txt", line * (9 * 2**20 // len(line.encode())))
    kept, peak, error = memory_kept_by_rejections(lambda: read_upload(path), CorpusError)
    assert "filas" in str(error) and peak > 5 * 2**20  # the parse did hold the rows while it ran
    assert kept < 2**20, f"{kept / 2**20:.1f} MB still held after 3 rejected uploads"


def test_corpus_env_file_is_served_without_the_upload_limits(tmp_path, monkeypatch):
    path = _write(tmp_path, "mio.txt", "".join(f"texto {i}\n" for i in range(MAX_UPLOAD_ROWS + 5)))
    monkeypatch.setenv("CORPUS", str(path))
    corpus = load_corpus()
    assert len(corpus) == MAX_UPLOAD_ROWS + 5 and corpus.source == "env" and corpus.shared
    monkeypatch.setenv("CORPUS", str(tmp_path / "no-existe.jsonl"))
    with pytest.raises(CorpusError, match="no existe"):
        load_corpus()


def test_corpus_values_have_known_sources():
    with pytest.raises(ValueError, match="Unknown corpus source"):
        Corpus.from_items([{"id": "1", "section": "", "title": "", "body": "x"}], "x", "mine")
