from __future__ import annotations

import numpy as np
import pytest

from benchmarks.synthetic import synthetic_corpus
from core.corpora import index as index_module
from core.corpora.index import VectorIndex, clear_indexes, get_index, index_kind


@pytest.fixture(scope="module")
def corpus():
    anchors = np.random.default_rng(0).standard_normal((300, 48)).astype(np.float32)
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    return synthetic_corpus(anchors, 6000, np.random.default_rng(1))


def _exact_top(corpus, query, k, allowed=None):
    scores = corpus @ query
    rows = np.arange(len(corpus)) if allowed is None else allowed
    return rows[np.argsort(-scores[rows])[:k]].tolist()


def test_the_default_index_follows_the_size_threshold(monkeypatch):
    monkeypatch.delenv("WORKBENCH_INDEX", raising=False)
    monkeypatch.delenv("WORKBENCH_INDEX_THRESHOLD", raising=False)
    assert index_kind(index_module.INDEX_THRESHOLD - 1) == "exact"
    assert index_kind(index_module.INDEX_THRESHOLD) == "ivf"
    monkeypatch.setenv("WORKBENCH_INDEX_THRESHOLD", "10")
    assert index_kind(10) == "ivf"
    monkeypatch.setenv("WORKBENCH_INDEX", "hnsw")
    assert index_kind(5) == "hnsw"
    assert index_kind(5, "exact") == "exact"
    with pytest.raises(ValueError, match="Unknown index kind 'ivvf': use one of auto, exact, ivf, hnsw"):
        index_kind(5, "ivvf")


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_every_index_finds_the_true_neighbours(corpus, kind):
    index = VectorIndex(corpus, kind)
    queries = corpus[:40] + 0.02 * np.random.default_rng(2).standard_normal((40, 48)).astype(np.float32)
    recall = np.mean(
        [len({r for r, _ in index.search(q, 10)} & set(_exact_top(corpus, q, 10))) / 10 for q in queries]
    )
    assert recall >= (1.0 if kind == "exact" else 0.9)
    rows_scores = index.search(queries[0], 5)
    assert [s for _, s in rows_scores] == sorted((s for _, s in rows_scores), reverse=True)
    assert rows_scores[0][1] == pytest.approx(float(corpus[rows_scores[0][0]] @ queries[0]), abs=1e-4)


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_a_filter_keeps_results_inside_the_allowed_rows(corpus, kind, monkeypatch):
    monkeypatch.setenv("WORKBENCH_INDEX_THRESHOLD", "1000")
    index = VectorIndex(corpus, kind)
    few = np.arange(3, len(corpus), 97, dtype=np.int64)  # 62 rows, under the threshold: searched exactly
    hits = index.search(corpus[10], 8, few)
    assert [r for r, _ in hits] == _exact_top(corpus, corpus[10], 8, few)
    assert len(index.search(corpus[10], 100, few[:3])) == 3  # k larger than the allowed rows
    many = np.arange(0, len(corpus), 2, dtype=np.int64)  # 3000 rows: the index with a selector
    recall = np.mean(
        [
            len({r for r, _ in index.search(q, 10, many)} & set(_exact_top(corpus, q, 10, many))) / 10
            for q in corpus[1:60:3]
        ]
    )
    assert recall >= 0.9
    assert all(r % 2 == 0 for q in corpus[1:60:3] for r, _ in index.search(q, 10, many))


def test_indexes_are_built_once_and_kept_on_disk(corpus, isolated_cache, monkeypatch):
    monkeypatch.setenv("WORKBENCH_INDEX_THRESHOLD", "1000")
    clear_indexes()
    first = get_index("corpus-key", corpus)
    assert first.kind == "ivf" and get_index("corpus-key", corpus) is first
    saved = list((isolated_cache / "indexes").glob("corpus-key-ivf.faiss"))
    assert len(saved) == 1
    clear_indexes()
    built = []
    monkeypatch.setattr(index_module, "build_faiss_index", lambda *a: built.append(a))
    again = get_index("corpus-key", corpus)  # read back from disk, not rebuilt
    assert not built and again.faiss_index.ntotal == len(corpus)
    assert again.search(corpus[7], 1)[0][0] == 7
    saved[0].write_bytes(b"not an index")
    clear_indexes()
    monkeypatch.undo()
    monkeypatch.setenv("WORKBENCH_INDEX_THRESHOLD", "1000")
    rebuilt = get_index("corpus-key", corpus)  # an unreadable file is rebuilt, not fatal
    assert rebuilt.search(corpus[7], 1)[0][0] == 7
    clear_indexes()


def test_search_switches_to_the_index_above_the_threshold(tiny_model_dir, isolated_cache, monkeypatch):
    from core.corpora.corpus import load_corpus
    from core.corpora.embeddings import corpus_embeddings, embedding_key
    from core.corpora.search import search
    from core.models.handle import load_handle

    handle = load_handle(str(tiny_model_dir), device="cpu")
    model, items = handle.model, load_corpus()
    embeddings = corpus_embeddings(handle, items)
    key = embedding_key(handle, items)
    exact = search(model, "sequía en los embalses", items, embeddings, 5, key=key)
    assert not (isolated_cache / "indexes").exists()  # 570 items: below the threshold, no index
    monkeypatch.setenv("WORKBENCH_INDEX_THRESHOLD", "100")
    clear_indexes()
    indexed = search(model, "sequía en los embalses", items, embeddings, 5, key=key)
    assert list((isolated_cache / "indexes").glob(f"{key}-ivf.faiss"))
    assert indexed[0]["title"] == exact[0]["title"]
    assert [h["score"] for h in indexed] == sorted((h["score"] for h in indexed), reverse=True)
    section = items.items[0]["section"]
    hits = search(model, "sequía en los embalses", items, embeddings, 5, section, key=key)
    assert len(hits) == 5 and {h["section"] for h in hits} == {section}
    clear_indexes()


def test_the_binary_index_finds_what_exact_search_finds(monkeypatch):
    """Centred signs + exact rescoring: recall@10 >= 0.95 against exact search, on vectors that share a
    common component as e5's do (raw signs would lose most neighbours), with and without a filter."""
    rng = np.random.default_rng(3)
    anchors = rng.standard_normal((300, 384)).astype(np.float32) + 4  # one direction shared by all
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    corpus = synthetic_corpus(anchors, 30_000, rng, noise=0.005)  # per-dimension noise as e5's spread
    queries = synthetic_corpus(anchors, 40, rng, noise=0.005)
    monkeypatch.setattr(index_module, "BINARY_THRESHOLD", 25_000)
    index = VectorIndex(corpus, "auto")
    assert index.kind == "binary"
    allowed = np.arange(0, len(corpus), 3)
    recalls, filtered = [], []
    for query in queries:
        exact = set(np.argsort(-(corpus @ query))[:10].tolist())
        recalls.append(len(exact & {row for row, _ in index.search(query, 10)}) / 10)
        inside = allowed[np.argsort(-(corpus[allowed] @ query))[:10]]
        found = index.search(query, 10, allowed)
        assert {row for row, _ in found} <= set(allowed.tolist())
        filtered.append(len(set(inside.tolist()) & {row for row, _ in found}) / 10)
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True) and np.allclose(
            scores, corpus[[r for r, _ in found]] @ query
        )
    assert np.mean(recalls) >= 0.95 and np.mean(filtered) >= 0.95, (np.mean(recalls), np.mean(filtered))


@pytest.mark.parametrize("kind", ["ivf", "binary"])
def test_a_query_is_searched_on_its_own_thread_alone(corpus, kind):
    """FAISS's OpenMP threads spinning after a search took the cores from the next query's encoding
    (docs/search.md): a search runs single-threaded on the calling thread, and only there."""
    import threading

    import faiss

    index = VectorIndex(corpus, kind)
    before = faiss.omp_get_max_threads()
    seen = []

    def visitor():
        index.search(corpus[0], 5)
        seen.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=visitor)
    thread.start()
    thread.join()
    assert seen == [1] and faiss.omp_get_max_threads() == before
