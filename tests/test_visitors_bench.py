"""The many-visitor benchmark's inputs are what its figures claim (the run itself starts the real app
and takes ~15 minutes: ``python -m benchmarks.visitors``)."""

from __future__ import annotations

import os

import pytest

from benchmarks.visitors import news_file, rejected_file, rss_mb
from core.corpora.corpus import MAX_UPLOAD_BYTES, read_upload
from core.errors import CorpusError


def test_the_rejected_file_is_refused_for_its_rows_not_its_size(tmp_path):
    path = rejected_file(tmp_path)
    assert 9 * 2**20 < path.stat().st_size <= MAX_UPLOAD_BYTES
    with pytest.raises(CorpusError, match="más de 20.000 filas"):
        read_upload(path)


def test_distinct_uploads_are_distinct_corpora(tmp_path):
    first = read_upload(news_file(tmp_path, 500, "v1-", headlines=True))
    second = read_upload(news_file(tmp_path, 500, "v2-", headlines=True))
    assert len(first) == len(second) == 500 and first.fingerprint != second.fingerprint
    assert first.items[0]["body"] == first.items[0]["title"]
    articles = read_upload(news_file(tmp_path, 600))
    assert len(articles) == 600 and len(articles.items[0]["body"]) > 3 * len(articles.items[0]["title"])


def test_rss_is_read_for_a_live_process():
    import psutil

    assert rss_mb(os.getpid()) == pytest.approx(psutil.Process().memory_info().rss / 2**20, rel=0.05)
