"""One reader for tabular files: the evaluation CLI and the evaluation tab accept and refuse the same."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.tables import TableError, read_table, separator
from evaluation.datasets import DatasetError, read_sts_file
from space.evaluate import read_visitor_sts

PAIRS = [
    ("El gato duerme", "Un gato está dormido", 4.5),
    ("Llueve", "Hace sol", 0.5),
    ("Sube el paro", "Baja el empleo", 3),
]


def _files(tmp_path) -> dict[str, str]:
    """The same pairs written the ways people write them."""
    rows = [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in PAIRS]
    csv_rows = "\n".join(f"{a},{b},{s}" for a, b, s in PAIRS)
    return {
        "comas.csv": "sentence1,sentence2,score\n" + csv_rows,
        "bom.csv": "\ufeffsentence1,sentence2,score\n" + csv_rows,
        "puntoycoma.csv": "Sentence1;Sentence2;Puntuación\n"
        + "\n".join(f"{a};{b};{str(s).replace('.', ',')}" for a, b, s in PAIRS),
        "tabs.tsv": "sentence1\tsentence2\tscore\n" + "\n".join(f"{a}\t{b}\t{s}" for a, b, s in PAIRS),
        "lineas.jsonl": "\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
        "lineas.json": "\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
        "array.json": json.dumps(rows, ensure_ascii=False),
        "bonito.json": json.dumps(rows, ensure_ascii=False, indent=2),
        "unidad.csv": "sentence1,sentence2,label\n" + "\n".join(f"{a},{b},{s / 5}" for a, b, s in PAIRS),
    }


BROKEN = {
    "vacio.csv": "",
    "sin_columnas.csv": "a,b,c\n1,2,3\n4,5,6\n7,8,9\n",
    "fuera.csv": "sentence1,sentence2,score\nA,B,7\nC,D,1\nE,F,2\n",
    "pocos.csv": "sentence1,sentence2,score\nA,B,1\nC,D,2\n",
    "roto.jsonl": '{"sentence1": "A", "sentence2": "B", "score": 1}\n{roto\n',
    "lista.json": "[1, 2, 3]",
    "tipo.txt": "sentence1,sentence2,score\nA,B,1\n",
}


def test_the_cli_and_the_tab_accept_the_same_files_and_read_the_same_pairs(tmp_path):
    for name, content in _files(tmp_path).items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        cli = read_sts_file(path)
        tab = read_visitor_sts(str(path))
        assert [p["score"] for p in cli] == pytest.approx([4.5, 0.5, 3.0]), name
        assert tab.scores == pytest.approx([p["score"] for p in cli]), name
        assert tab.sentences1 == [p["sentence1"] for p in cli] == [a for a, _, _ in PAIRS], name


def test_the_cli_and_the_tab_refuse_the_same_files(tmp_path):
    for name, content in BROKEN.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(DatasetError):
            read_sts_file(path)
        with pytest.raises(InputError):
            read_visitor_sts(str(path))


def test_problems_say_where_in_the_file(tmp_path):
    path = tmp_path / "roto.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{roto\n', encoding="utf-8")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == "json" and caught.value.line == 4
    bad = tmp_path / "fila.csv"
    bad.write_text("sentence1,sentence2,score\nA,B,1\nC,D,no\nE,F,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 3"):
        read_sts_file(bad)
    with pytest.raises(InputError, match="la fila 3"):
        read_visitor_sts(str(bad))


def test_the_row_cap_and_the_separator_rule(tmp_path):
    path = tmp_path / "muchas.csv"
    path.write_text("text\n" + "\n".join(f"fila {i}" for i in range(30)), encoding="utf-8")
    with pytest.raises(TableError) as caught:
        read_table(path, max_rows=20)
    assert caught.value.code == "too_many_rows"
    assert len(read_table(path).rows) == 30
    assert separator("a;b;c", ".csv") == ";" and separator("a,b;c", ".csv") == ","
    assert separator("a\tb", ".csv") == "\t" and separator("a,b", ".tsv") == "\t"


def test_the_search_upload_reads_through_the_same_reader(tmp_path):
    """Separator, byte-order mark, pretty JSON arrays: a corpus upload reads what the STS reader reads."""
    from core.corpora.corpus import read_upload

    for name, content in _files(tmp_path).items():
        path = tmp_path / name
        path.write_text(content.replace("sentence1", "text").replace("Sentence1", "Text"), encoding="utf-8")
        table = read_table(path)
        column = table.columns[0]
        assert [item["body"] for item in read_upload(path).items] == [r[column] for r in table.rows], name
