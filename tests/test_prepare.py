from __future__ import annotations

import json

import pytest
from datasets import load_from_disk

from core.paths import PROJECT_ROOT
from trainer.prepare import PrepareArguments, PrepareError, main, prepare


@pytest.fixture
def tiny_tokenizer_spec(tiny_model_dir):
    return str(tiny_model_dir)


def test_bundled_corpus_needs_no_flags(tiny_tokenizer_spec, tmp_path, capsys):
    output = tmp_path / "prepared"
    assert main(["--output_dir", str(output), "--tokenizer", tiny_tokenizer_spec]) == 0
    splits = load_from_disk(str(output))
    sizes = {name: len(split) for name, split in splits.items()}
    stats = json.loads((output / "stats.json").read_text())
    kept = stats["steps"][-1]["rows_out"]
    assert stats["steps"][0] == {"step": "select_columns", "rows_in": 570, "rows_out": 570}
    assert 500 <= kept <= 570 and sum(sizes.values()) == kept
    assert sizes["dev"] == sizes["test"] == round(0.1 * kept)
    assert splits["train"].column_names == ["anchor", "positive"]
    assert max(len(a.split()) for a in splits["train"]["anchor"]) <= 31  # < 32 tokens
    assert stats["lengths"]["positive_tokens"]["p50"] > stats["lengths"]["anchor_tokens"]["p50"]
    assert stats["lengths"]["anchor_tokens"]["max"] < 32 and stats["lengths"]["positive_tokens"]["max"] < 256
    report = capsys.readouterr().out
    assert f"| token_length | 570 | {kept} |" in report and f"splits: train {sizes['train']}," in report


def test_split_is_seeded_and_disjoint(tiny_tokenizer_spec):
    first, _ = prepare(PrepareArguments(tokenizer=tiny_tokenizer_spec, seed=1))
    again, _ = prepare(PrepareArguments(tokenizer=tiny_tokenizer_spec, seed=1))
    other, _ = prepare(PrepareArguments(tokenizer=tiny_tokenizer_spec, seed=2))
    assert list(first["test"]["anchor"]) == list(again["test"]["anchor"])
    assert list(first["test"]["anchor"]) != list(other["test"]["anchor"])
    assert not set(first["train"]["anchor"]) & set(first["test"]["anchor"])


def test_local_csv_cleaning_and_column_mapping(tiny_tokenizer_spec, tmp_path):
    rows = ["titular,cuerpo,otra"]
    rows += [f"Titular   número {i},Cuerpo de la noticia {i} con  espacios,x" for i in range(30)]
    rows += ["Titular número 0,Cuerpo de la noticia 0 con espacios,dup"]  # duplicate after normalising
    rows += [" ,cuerpo sin titular,x", "Titular largo " + "palabra " * 60 + ",cuerpo,x"]
    path = tmp_path / "news.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = PrepareArguments(
        dataset=str(path),
        anchor_column="titular",
        positive_column="cuerpo",
        tokenizer=tiny_tokenizer_spec,
        dev_size=3,
        test_size=3,
    )
    splits, stats = prepare(args)
    counts = {s["step"]: (s["rows_in"], s["rows_out"]) for s in stats["steps"]}
    assert counts["drop_empty"] == (33, 32)
    assert counts["drop_duplicate_pairs"] == (32, 31)
    assert counts["token_length"] == (31, 30)
    assert stats["splits"] == {"train": 24, "dev": 3, "test": 3}
    assert "Titular número 5" in [a for name in ("train", "dev", "test") for a in splits[name]["anchor"]]


def test_a_spreadsheet_csv_reads_as_the_space_reads_it(tiny_tokenizer_spec, tmp_path):
    """A CSV saved by a Spanish-locale spreadsheet: a byte-order mark, ";" between columns, commas inside
    texts. The corpus upload (core.tables) reads it; so does prepare, with the same columns."""
    from core.tables import read_table

    rows = ["titular;cuerpo"] + [f"Sube el paro, {i};Cuerpo de la noticia {i}, con comas" for i in range(20)]
    path = tmp_path / "hoja.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    args = PrepareArguments(
        dataset=str(path), anchor_column="titular", positive_column="cuerpo", tokenizer=tiny_tokenizer_spec,
        dev_size=2, test_size=2,
    )  # fmt: skip
    splits, _ = prepare(args)
    prepared = {
        a: p
        for name in ("train", "dev", "test")
        for a, p in zip(splits[name]["anchor"], splits[name]["positive"], strict=True)
    }
    assert prepared == {row["titular"]: row["cuerpo"] for row in read_table(path).rows}


def test_scores_are_normalised_to_unit_range(tiny_tokenizer_spec, tmp_path):
    path = tmp_path / "scored.jsonl"
    lines = [json.dumps({"s1": f"frase {i}", "s2": f"otra frase {i}", "nota": i % 6}) for i in range(40)]
    path.write_text("\n".join(lines), encoding="utf-8")
    args = PrepareArguments(
        dataset=str(path),
        anchor_column="s1",
        positive_column="s2",
        score_column="nota",
        tokenizer=tiny_tokenizer_spec,
    )
    splits, _ = prepare(args)
    scores = [score for name in ("train", "dev", "test") for score in splits[name]["score"]]
    assert max(scores) == 1.0 and min(scores) == 0.0


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        ("a,b\n1,2\n", [], "Column(s) anchor, positive not found"),
        ("", [], "is empty"),
        ("anchor,positive\n" + "x " * 300 + ",y\n", ["--max_anchor_tokens", "4"], "No rows are left"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tiny_tokenizer_spec, tmp_path, capsys, content, flags, message
):
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    output = tmp_path / "out"
    code = main(
        ["--dataset", str(path), "--output_dir", str(output), "--tokenizer", tiny_tokenizer_spec, *flags]
    )
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert not output.exists()


def test_hub_dataset_offline_names_the_fix(tiny_tokenizer_spec, tmp_path, capsys):
    code = main(
        [
            "--dataset",
            "LeoCordoba/CC-NEWS-ES-titles",
            "--output_dir",
            str(tmp_path / "o"),
            "--tokenizer",
            tiny_tokenizer_spec,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "Cannot load dataset 'LeoCordoba/CC-NEWS-ES-titles' from the Hub" in err
    assert "local CSV/JSONL/Parquet" in err


def test_existing_output_is_not_overwritten(tiny_tokenizer_spec, tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    assert main(["--output_dir", str(output), "--tokenizer", tiny_tokenizer_spec]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (output / "keep.txt").read_text() == "mine"


def test_unknown_source_split_and_negative_sizes():
    with pytest.raises(PrepareError, match="must not be negative"):
        PrepareArguments(dev_size=-1)


@pytest.mark.parametrize(
    ("sample", "hub_id", "url_part"),
    [
        (
            "cc-news-es-titles.jsonl",
            "LeoCordoba/CC-NEWS-ES-titles",
            "LeoCordoba/CC-NEWS-ES-titles/train.jsonl",
        ),
        ("mlsum-es.jsonl", "mteb/mlsum", None),
    ],
)
def test_news_sources_of_the_shipped_shape(
    sample, hub_id, url_part, tiny_tokenizer_spec, tmp_path, monkeypatch
):
    """The seed's CC-NEWS-ES-titles files and MLSUM es, from small shipped samples of the same columns:
    read as local files (columns recognised without flags) and through the Hub code path."""
    import datasets

    path = PROJECT_ROOT / "assets" / "samples" / sample
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    headline = "output_text" if "output_text" in rows[0] else "title"
    expected = {(row[headline], row["text"]) for row in rows}

    def pairs(output):
        splits = load_from_disk(str(output))
        return {
            (a, p)
            for split in splits.values()
            for a, p in zip(split["anchor"], split["positive"], strict=True)
        }

    assert (
        main(
            [
                "--dataset",
                str(path),
                "--output_dir",
                str(tmp_path / "local"),
                "--tokenizer",
                tiny_tokenizer_spec,
            ]
        )
        == 0
    )
    assert pairs(tmp_path / "local") <= expected and len(pairs(tmp_path / "local")) >= 30
    asked = []
    real_load = datasets.load_dataset

    def from_the_sample(name, *args, **kwargs):  # what the Hub would serve, offline
        asked.append((name, args, kwargs))
        return real_load("json", data_files=str(path), split="train")

    monkeypatch.setattr(datasets, "load_dataset", from_the_sample)
    out = tmp_path / "hub"
    assert main(["--dataset", hub_id, "--output_dir", str(out), "--tokenizer", tiny_tokenizer_spec]) == 0
    assert pairs(out) == pairs(tmp_path / "local")
    if url_part:  # the seed's jsonl files, read by URL
        assert asked[0][0] == "json" and asked[0][2]["data_files"].endswith(url_part)
    else:  # mlsum's Spanish config
        assert asked[0][:2] == (hub_id, ("es",))
