"""Shared fixtures: a tiny random model built once per session, handed out as a copy."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import tracemalloc
from pathlib import Path

import pytest

# Tests never reach the Hub: a Hub id fails fast and explicitly instead of hanging on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.corpora.data import load_news  # noqa: E402

TINY_VOCAB = 2000


def build_tiny_model(target: Path, with_sentence_transformers_config: bool = True) -> Path:
    """A 2-layer BERT with a WordPiece tokenizer trained on the bundled news corpus.

    Args:
        target: Folder to write.
        with_sentence_transformers_config: False writes a plain Hugging Face folder (no modules.json).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    texts = [f"{item['title']} {item['body']}" for item in load_news()]
    tokenizer.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=TINY_VOCAB, special_tokens=special)
    )
    # The trainer finds the same tokens on every run but numbers them in a different order (ties in its
    # parallel counting): number them in one fixed order, so that every run tests the same model.
    learned = sorted(token for token in tokenizer.get_vocab() if token not in special)
    tokenizer.model = models.WordPiece(
        {token: number for number, token in enumerate(special + learned)}, unk_token="[UNK]"
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    import torch

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    hf_dir = target if not with_sentence_transformers_config else target.parent / f"{target.name}-hf"
    BertModel(config, add_pooling_layer=False).save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    if not with_sentence_transformers_config:
        return target
    transformer = Transformer(str(hf_dir), max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu")
    model.save(str(target), model_name="tiny-test-model")
    shutil.rmtree(hf_dir)
    return target


@pytest.fixture(scope="session")
def _tiny_model_master(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def tiny_model_dir(_tiny_model_master, tmp_path) -> Path:
    """A private copy of the tiny sentence-transformers model folder."""
    return Path(shutil.copytree(_tiny_model_master, tmp_path / "tiny-model"))


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Point the project cache at an empty folder for this test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    return cache


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def served_app(_tiny_model_master, tmp_path_factory):
    """The app on the tiny model and the bundled corpus, with its own cache folder."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MODEL_ID", str(_tiny_model_master))
    monkeypatch.delenv("MODELS", raising=False)
    monkeypatch.delenv("CORPUS", raising=False)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path_factory.mktemp("app-cache")))
    import app

    demo = app.build_demo()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.LAUNCH)
    assert demo.mcp_error is None, demo.mcp_error  # quiet=True would hide why the MCP server did not start
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        monkeypatch.undo()


def memory_kept_by_rejections(attempt, error_type: type[BaseException], times: int = 3):
    """Call ``attempt()`` ``times`` times, each failing with ``error_type``, and hold each error in a
    reference cycle (as a web framework's error handling does), with the garbage collector off.

    Returns:
        The bytes still allocated afterwards, the peak while it ran, and the last error.
    """
    gc.collect()
    gc.disable()
    tracemalloc.start()
    held = None
    try:
        for _ in range(times):
            try:
                attempt()
            except error_type as err:
                held = [err]
                held.append(held)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert held is not None, f"attempt() never raised {error_type.__name__}"
    return kept, peak, held[0]
