from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from core.models.loader import ModelLoadError, load_model, model_path, resolve_spec
from tests.conftest import build_tiny_model


def _tar(folder, archive, arcname="."):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


def test_default_spec_is_builtin_unless_model_id_is_set(monkeypatch):
    monkeypatch.delenv("MODEL_ID", raising=False)
    assert resolve_spec(None) == "builtin:multilingual-e5-small"
    monkeypatch.setenv("MODEL_ID", "org/my-model")
    assert resolve_spec(None) == "org/my-model"
    assert resolve_spec("other/model") == "other/model"


def test_loads_sentence_transformers_folder(tiny_model_dir):
    model = load_model(str(tiny_model_dir), device="cpu")
    embeddings = model.encode(["Hola mundo", "Adiós"])
    assert embeddings.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def test_plain_hugging_face_folder_gets_mean_pooling(tmp_path):
    folder = build_tiny_model(tmp_path / "plain", with_sentence_transformers_config=False)
    assert not (folder / "modules.json").exists()
    model = load_model(str(folder), device="cpu")
    assert model.encode(["Una frase"]).shape == (1, 32)


def test_folder_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hola")
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_model(str(tmp_path))


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        model_path(str(tmp_path / "nowhere" / "model"))


def test_hub_id_offline_fails_clearly_and_names_builtin(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="builtin:multilingual-e5-small") as info:
        load_model("bertin-project/bertin-roberta-base-spanish")
    assert "\n" not in str(info.value)
    assert "bertin-project/bertin-roberta-base-spanish" in str(info.value)


def test_unknown_builtin_is_refused():
    with pytest.raises(ModelLoadError, match="only one is"):
        model_path("builtin:gpt-99")


def test_sagemaker_tar_is_unpacked_once(tiny_model_dir, tmp_path, isolated_cache):
    archive = _tar(tiny_model_dir, tmp_path / "model.tar.gz")
    first = model_path(str(archive))
    assert first.startswith(str(isolated_cache))
    marker = isolated_cache / "artifacts" / "marker"
    marker.write_text("x")
    assert model_path(str(archive)) == first  # second call reuses the unpacked folder
    model = load_model(str(archive), device="cpu")
    assert model.encode(["Hola"]).shape == (1, 32)


def test_tar_with_model_in_subfolder(tiny_model_dir, tmp_path, isolated_cache):
    archive = _tar(tiny_model_dir, tmp_path / "model.tar.gz", arcname="final")
    assert model_path(str(archive)).endswith("final")


def test_corrupt_tar_is_refused_and_leaves_no_cache_entry(tmp_path, isolated_cache):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00 definitely not a tar archive")
    with pytest.raises(ModelLoadError, match="not a readable tar archive"):
        model_path(str(archive))
    leftovers = [p for p in (isolated_cache / "artifacts").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_tar_without_model_is_refused(tmp_path, isolated_cache):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"just some logs"
        info = tarfile.TarInfo("logs/train.log")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ModelLoadError, match="holds no model"):
        model_path(str(archive))


def test_plain_file_is_refused(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"0")
    with pytest.raises(ModelLoadError, match="is a file, not a model"):
        model_path(str(path))
