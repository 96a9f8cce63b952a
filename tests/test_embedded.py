"""Embedded corpora: written once in resumable Parquet shards, served without re-embedding, refused when
another model made them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.cache import CACHE
from core.corpora import embeddings as embeddings_module
from core.corpora.corpus import load_corpus
from core.errors import CorpusError
from core.paths import PROJECT_ROOT
from trainer.predict import main as predict


@pytest.fixture
def served(_tiny_model_master, isolated_cache, monkeypatch):
    monkeypatch.setenv("MODEL_ID", str(_tiny_model_master))
    monkeypatch.setenv("WORKBENCH_BACKEND", "torch")
    monkeypatch.delenv("MODELS", raising=False)
    CACHE.clear(lambda key: key[0] != "model")
    return _tiny_model_master


def _embed(model, output, *extra) -> int:
    news = str(PROJECT_ROOT / "assets" / "news_es.jsonl")
    return predict(
        ["--model", str(model), "--embed", news, "--output", str(output), "--shard_rows", "200", *extra]
    )


def test_a_killed_embedding_job_resumes_where_it_stopped(served, tmp_path, monkeypatch, capsys):
    output = tmp_path / "corpus.parquet"
    real, calls = embeddings_module.encode_documents, []

    def dies_on_the_second_shard(model, texts, *args, **kwargs):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a Ctrl-C, or a kill, in the middle of the second shard
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(embeddings_module, "encode_documents", dies_on_the_second_shard)
    with pytest.raises(KeyboardInterrupt):
        _embed(served, output)
    assert sorted(p.name for p in output.glob("part-*")) == ["part-00000-of-00003.parquet"]
    calls.clear()

    def counted(model, texts, *args, **kwargs):
        calls.append(len(texts))
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(embeddings_module, "encode_documents", counted)
    assert _embed(served, output) == 0
    assert calls == [200, 170]  # the first shard was kept, not embedded again
    assert "wrote 2 of 3 shards (1 kept from before)" in capsys.readouterr().out
    corpus = load_corpus(str(output))
    assert len(corpus) == 570 and corpus.vectors.embeddings.shape == (570, 32)
    assert [item["id"] for item in corpus.items] == [f"n{i:04d}" for i in range(1, 571)]


def test_a_served_embedded_corpus_is_never_embedded_again(served, tmp_path, monkeypatch):
    output = tmp_path / "corpus.parquet"
    assert _embed(served, output) == 0
    monkeypatch.setenv("CORPUS", str(output))
    from core.models.handle import get_handle
    from space import search as search_tab

    def no_encoding(*args, **kwargs):
        raise AssertionError("the served corpus was embedded again")

    monkeypatch.setattr(embeddings_module, "encode_documents", no_encoding)
    rows, _ = search_tab.search_corpus(None, "sequía en los embalses", 3, "todas", None, "significado")
    corpus = load_corpus(str(output))
    handle = get_handle(None)
    expected = handle.model.encode_document(
        [corpus.passages()[0]], normalize_embeddings=True, convert_to_numpy=True
    )[0]
    assert np.allclose(corpus.vectors.embeddings[0], expected, atol=1e-5)  # the app's own embedding
    query = handle.model.encode_query(["sequía en los embalses"], normalize_embeddings=True)[0]
    best = np.argsort(-(corpus.vectors.embeddings @ query))[:3]
    assert [row[4] for row in rows] == [corpus.items[i]["id"] for i in best]


def test_a_corpus_made_by_another_model_is_refused(served, tmp_path, monkeypatch):
    other = tmp_path / "other-model"
    shutil.copytree(served, other)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(other), device="cpu")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01)
    model.save(str(other))
    output = tmp_path / "corpus.parquet"
    assert _embed(other, output) == 0
    monkeypatch.setenv("CORPUS", str(output))
    from space import search as search_tab

    with pytest.raises(CorpusError, match="se calculó con otro modelo"):
        search_tab.search_corpus(None, "sequía", 3)


def test_an_unfinished_or_foreign_folder_is_a_clear_message(served, tmp_path):
    output = tmp_path / "corpus.parquet"
    assert _embed(served, output) == 0
    (output / "part-00002-of-00003.parquet").unlink()
    with pytest.raises(CorpusError, match="hay 2 de 3 partes"):
        load_corpus(str(output))
    with pytest.raises(CorpusError, match="no hay un corpus con embeddings"):
        load_corpus(str(tmp_path / "nada.parquet"))
    assert _embed(served, output, "--prompt_name", "query") == 2


def test_the_cli_refuses_another_job_in_the_same_folder(served, tmp_path):
    output = tmp_path / "corpus.parquet"
    assert _embed(served, output) == 0
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "predict", "--model", str(served), "--embed",
         str(PROJECT_ROOT / "assets" / "news_es.jsonl"), "--output", str(output), "--shard_rows", "100"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert result.returncode == 2 and "holds shards of another job" in result.stderr
