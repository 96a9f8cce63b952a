"""Corpus embedding: length-sorted batches in input order, progress by characters, every core while alone."""

from __future__ import annotations

import numpy as np
import pytest

from core.corpora.corpus import MAX_EMBEDDED_BODY_CHARS, Corpus, embedded_text
from core.corpora.embeddings import encode_documents
from core.models.loader import load_model


@pytest.fixture(scope="module")
def tiny(_tiny_model_master):
    return load_model(str(_tiny_model_master), device="cpu")


def test_sorted_batches_come_back_in_input_order(tiny, monkeypatch):
    import core.corpora.embeddings

    monkeypatch.setattr(core.corpora.embeddings, "CHUNK", 4)
    texts = [("palabra " * n).strip() for n in (3, 40, 1, 17, 8, 25, 2, 60, 5, 11)]
    one_by_one = np.stack([tiny.encode_document([t], normalize_embeddings=True)[0] for t in texts])
    steps, engines = [], []

    def engine():
        engines.append(1)
        return tiny

    together = encode_documents(tiny, texts, progress=lambda f, desc: steps.append((f, desc)), engine=engine)
    assert together.dtype == np.float32 and together.shape == one_by_one.shape
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)  # row i is text i, whatever the batch
    assert len(engines) == 3  # asked once per step: an upload may switch cores between steps
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert fractions[0] > 4 / 10  # by characters: the longest texts go first and weigh most
    assert steps[-1][1] == "Calculando embeddings: 10 de 10 textos"
    assert encode_documents(tiny, []).shape == (0, 0)


def test_a_long_body_is_embedded_from_its_start():
    body = "palabra " * 1000
    text = embedded_text({"title": "Titular", "body": body})
    assert text.startswith("Titular. palabra") and len(text) <= len("Titular. ") + MAX_EMBEDDED_BODY_CHARS
    assert not text.endswith(" ") and text.endswith("palabra")  # cut at a word
    short = {"title": "", "body": "Una noticia corta.", "id": "1", "section": ""}
    assert embedded_text(short) == "Una noticia corta."
    corpus = Corpus.from_items([short, {"title": "T", "body": body, "id": "2", "section": ""}], "x", "upload")
    assert [len(p) for p in corpus.passages()] == [18, len(text) - len("Titular") + 1]


def test_an_upload_takes_every_core_only_while_alone(_tiny_model_master, isolated_cache, monkeypatch):
    from core.models.handle import load_handle
    from space import runtime

    monkeypatch.setattr("core.models.cpu.usable_cpus", lambda: 2)
    handle = load_handle(str(_tiny_model_master), device="cpu", backend="onnx-int8")
    handle.model[0].model.threads = 1  # as served on the Space: one thread per request
    bulk = handle.bulk_model
    assert bulk is not handle.model and bulk[0].model.threads == 2 and handle.bulk_model is bulk
    assert bulk[0].model.session.get_session_options().intra_op_num_threads == 2
    again = load_handle(str(_tiny_model_master), device="cpu", backend="onnx-int8")
    again.model[0].model.threads = 1

    def no_engine(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("core.models.backends.variant", no_engine)
    assert again.bulk_model is again.model  # the upload still runs, on the serving engine
    monkeypatch.setattr("core.models.handle._torch_threads", lambda: 2)
    torch_handle = load_handle(str(_tiny_model_master), device="cpu", backend="torch")
    assert torch_handle.bulk_model is torch_handle.model  # torch already on every core: nothing to add
    clock = [1000.0]
    monkeypatch.setattr(runtime.time, "monotonic", lambda: clock[0])
    monkeypatch.setitem(runtime._jobs, "last_end", 0.0)
    assert runtime.alone()
    with runtime.job():
        assert runtime.alone()  # the caller itself
        with runtime.job():
            assert not runtime.alone()  # another request runs
        assert not runtime.alone()  # it just ended: a visitor is clicking through the page
        clock[0] += runtime.QUIET_S
        assert runtime.alone()
    assert not runtime.alone()  # the next job waits for quiet too
    clock[0] += runtime.QUIET_S
    assert runtime.alone()


def test_an_upload_on_torch_takes_every_core_in_its_own_thread_only(_tiny_model_master, monkeypatch):
    """Regression: on torch an upload ran on the serving thread count (one): 3.7× the benchmark."""
    import threading

    import torch

    from core.models import handle as handles
    from core.models.handle import AllCores, load_handle

    monkeypatch.setattr(handles, "_torch_threads", lambda: 1)  # as the app's threads are set
    monkeypatch.setattr("core.models.cpu.usable_cpus", lambda: 2)
    handle = load_handle(str(_tiny_model_master), device="cpu", backend="torch")
    bulk = handle.bulk_model
    assert isinstance(bulk, AllCores) and bulk.threads == 2
    seen = []
    real = handle.model.encode_document

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(handle.model, "encode_document", spy)

    def upload():
        torch.set_num_threads(1)
        bulk.encode_document(["Sube el paro", "Baja el desempleo"])
        seen.append(torch.get_num_threads())

    main_threads = torch.get_num_threads()
    worker = threading.Thread(target=upload)
    worker.start()
    worker.join()
    assert seen == [2, 1]  # every core during the step, the serving count after it
    assert torch.get_num_threads() == main_threads  # another thread's count is untouched
