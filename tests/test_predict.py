from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from core.paths import PROJECT_ROOT
from trainer.__main__ import main as trainer_main
from trainer.predict import main


def _cosine(model_dir, a: str, b: str) -> float:
    """The cosine the model gives, computed here without the CLI."""
    from sentence_transformers import SentenceTransformer

    first, second = SentenceTransformer(str(model_dir), device="cpu").encode(
        [a, b], normalize_embeddings=True
    )
    return float(np.dot(first, second))


def test_two_sentences_print_a_cosine(tiny_model_dir, capsys):
    assert main(["--model", str(tiny_model_dir), "El Gobierno aprueba", "El Ejecutivo aprueba"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == f"{_cosine(tiny_model_dir, 'El Gobierno aprueba', 'El Ejecutivo aprueba'):.4f}"


def test_identical_sentences_score_one(tiny_model_dir, capsys):
    main(["--model", str(tiny_model_dir), "Llueve en Sevilla", "Llueve en Sevilla"])
    assert float(capsys.readouterr().out) == pytest.approx(1.0, abs=1e-3)


def test_pairs_file_to_output(tiny_model_dir, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Hola\tBuenos días\n\nLa casa es roja\tEl coche es azul\n", encoding="utf-8")
    output = tmp_path / "out" / "scores.tsv"
    assert main(["--model", str(tiny_model_dir), "--file", str(pairs), "--output", str(output)]) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sentence1\tsentence2\tcosine"
    assert [line.split("\t")[:2] for line in lines[1:]] == [
        ["Hola", "Buenos días"],
        ["La casa es roja", "El coche es azul"],
    ]
    expected = [
        _cosine(tiny_model_dir, "Hola", "Buenos días"),
        _cosine(tiny_model_dir, "La casa es roja", "El coche es azul"),
    ]
    assert [float(line.split("\t")[2]) for line in lines[1:]] == pytest.approx(expected, abs=1e-4)


def test_pairs_file_to_stdout(tiny_model_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Uno\tDos\n", encoding="utf-8-sig")  # a byte-order mark (Notepad) is not text
    assert main(["--model", str(tiny_model_dir), "--file", str(pairs)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("Uno\tDos\t")


def test_an_sts_table_is_a_pairs_file_through_the_one_reader(tiny_model_dir, tmp_path, capsys):
    """The same pairs as a ';' CSV with a byte-order mark and as a JSON array: the same two rows."""
    csv_file = tmp_path / "sts.csv"
    csv_file.write_text("\ufeffSentence1;Sentence2;score\nUno;Dos;4\nTres;Cuatro;1\n", encoding="utf-8")
    json_file = tmp_path / "sts.json"
    json_file.write_text(
        '[{"sentence1": "Uno", "sentence2": "Dos"}, {"sentence1": "Tres", "sentence2": "Cuatro"}]'
    )
    printed = []
    for path in (csv_file, json_file):
        assert main(["--model", str(tiny_model_dir), "--file", str(path)]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]
    assert [line.split("\t")[:2] for line in printed[0].splitlines()[1:]] == [
        ["Uno", "Dos"],
        ["Tres", "Cuatro"],
    ]
    bad = tmp_path / "sin.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    assert main(["--model", str(tiny_model_dir), "--file", str(bad)]) == 2
    assert "needs columns sentence1 and sentence2" in capsys.readouterr().err


def test_embed_writes_npy(tiny_model_dir, tmp_path):
    sentences = tmp_path / "frases.txt"
    sentences.write_text("Primera frase\nSegunda frase\n\nTercera\n", encoding="utf-8")
    assert main(["--model", str(tiny_model_dir), "--embed", str(sentences)]) == 0
    embeddings = np.load(tmp_path / "frases.npy")
    assert embeddings.shape == (3, 32)


def test_embed_runs_on_the_backend_asked_for(tiny_model_dir, tmp_path, isolated_cache, capsys):
    sentences = tmp_path / "frases.txt"
    sentences.write_text("Sube el paro en marzo\nEl Gobierno aprueba los presupuestos\n", encoding="utf-8")
    outputs = {}
    for backend in ("torch", "onnx-int8"):
        outputs[backend] = tmp_path / f"{backend}.npy"
        argv = ["--model", str(tiny_model_dir), "--embed", str(sentences), "--output", str(outputs[backend])]
        assert main([*argv, "--backend", backend]) == 0
    torch_fp32, onnx_int8 = (np.load(path) for path in outputs.values())
    assert not np.array_equal(torch_fp32, onnx_int8)  # really another engine
    cosines = np.sum(torch_fp32 * onnx_int8, axis=1) / (
        np.linalg.norm(torch_fp32, axis=1) * np.linalg.norm(onnx_int8, axis=1)
    )
    assert cosines.min() > 0.9
    assert list(isolated_cache.glob("onnx-int8/*/model.onnx"))  # built in the cache, once
    with pytest.raises(SystemExit):
        main(["--model", str(tiny_model_dir), "--embed", str(sentences), "--backend", "onx"])
    assert "invalid choice: 'onx'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "has no sentence pairs"),
        ("\n  \n", "has no sentence pairs"),
        ("sin tabulador\n", ":1: expected two"),
    ],
)
def test_bad_pairs_file_is_one_line_error(tiny_model_dir, tmp_path, capsys, content, message):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(content, encoding="utf-8")
    assert main(["--model", str(tiny_model_dir), "--file", str(pairs)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_and_non_npy_output(tiny_model_dir, tmp_path, capsys):
    assert main(["--model", str(tiny_model_dir), "--file", str(tmp_path / "nope.tsv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    sentences = tmp_path / "s.txt"
    sentences.write_text("hola\n", encoding="utf-8")
    assert main(["--embed", str(sentences), "--output", str(tmp_path / "e.csv")]) == 2
    assert "must end in .npy" in capsys.readouterr().err


def test_not_a_model_folder_is_one_line_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path), "uno", "dos"]) == 2
    err = capsys.readouterr().err
    assert "not a model folder" in err and err.count("\n") == 1


def test_wrong_number_of_sentences_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["solo una frase"])
    assert info.value.code == 2
    assert "exactly two sentences" in capsys.readouterr().err


def test_dispatcher_rejects_unknown_command(capsys):
    assert trainer_main(["predcit"]) == 2
    assert "unknown command 'predcit'" in capsys.readouterr().err


def test_module_entry_point_hub_id_offline(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "predict", "--model", "no-such-org/no-such-model", "a", "b"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Cannot load 'no-such-org/no-such-model'")
    assert "builtin:multilingual-e5-small" in last


def test_two_sentences_never_wait_for_a_variant_build(tiny_model_dir, isolated_cache, monkeypatch, capsys):
    """A new model's first predict ran on torch fp32 at once: no export, no measurement, no library noise."""
    from core.models import backends

    monkeypatch.delenv("WORKBENCH_BACKEND", raising=False)

    def refuse(*args, **kwargs):
        pytest.fail("a variant was built for two sentences")

    monkeypatch.setattr(backends, "_traceable", refuse)
    assert main(["--model", str(tiny_model_dir), "Sube el paro", "Baja el desempleo"]) == 0
    assert float(capsys.readouterr().out) < 1.0001
    assert not list(isolated_cache.glob("onnx-int8/*")) and not list(
        isolated_cache.glob("backends/ranking-*")
    )
