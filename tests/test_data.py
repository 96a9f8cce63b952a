from __future__ import annotations

import re
from collections import Counter

import pytest

from core.corpora.data import NEWS_FIELDS, load_news, load_news_duplicates, load_sts, read_bundled


def test_news_corpus_size_sections_and_schema():
    news = load_news()
    assert len(news) >= 500
    sections = Counter(item["section"] for item in news)
    assert len(sections) >= 10
    assert min(sections.values()) >= 40
    for item in news:
        assert tuple(item) == NEWS_FIELDS
        assert all(isinstance(item[field], str) and item[field].strip() for field in NEWS_FIELDS)
    assert len({item["id"] for item in news}) == len(news)
    assert len({item["title"] for item in news}) == len(news)


def test_news_bodies_are_lead_paragraphs():
    for item in load_news():
        sentences = re.findall(r"[.!?](?:\s|$)", item["body"])
        assert 2 <= len(sentences) <= 4, item["id"]
        assert 25 <= len(item["body"].split()) <= 120, item["id"]


def test_duplicate_pairs_point_at_same_story_in_other_words():
    news = {item["id"]: item for item in load_news()}
    pairs = load_news_duplicates()
    assert len(pairs) >= 24
    assert len({id_ for pair in pairs for id_ in pair}) == 2 * len(pairs)
    for id_a, id_b in pairs:
        a, b = news[id_a], news[id_b]
        assert a["section"] == b["section"]
        assert a["title"] != b["title"] and a["body"] != b["body"]
        # same figures: the numbers of the shorter story mostly reappear in the other
        numbers_a = set(re.findall(r"\d+", a["body"]))
        numbers_b = set(re.findall(r"\d+", b["body"]))
        assert len(numbers_a & numbers_b) >= min(len(numbers_a), len(numbers_b)) // 2


@pytest.mark.parametrize("split", ["dev", "test"])
def test_sts_split_covers_the_whole_scale(split):
    pairs = load_sts(split)
    assert len(pairs) >= 100
    buckets = Counter(min(int(pair["score"]), 4) for pair in pairs)
    assert sorted(buckets) == [0, 1, 2, 3, 4]
    assert min(buckets.values()) >= len(pairs) // 10
    for pair in pairs:
        assert 0.0 <= pair["score"] <= 5.0
        assert pair["sentence1"].strip() and pair["sentence2"].strip()
        assert pair["sentence1"] != pair["sentence2"]


def test_sts_has_200_pairs_and_dev_test_are_disjoint():
    dev = {(p["sentence1"], p["sentence2"]) for p in load_sts("dev")}
    test = {(p["sentence1"], p["sentence2"]) for p in load_sts("test")}
    assert len(dev) + len(test) >= 200
    assert not dev & test


def test_unknown_sts_split_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        load_sts("train")


def test_read_bundled_names_the_broken_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken.jsonl:3"):
        read_bundled(path)
