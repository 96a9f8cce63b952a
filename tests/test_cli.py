"""Every command line refuses an abbreviated flag: ``--num_train_epoch 3`` must not quietly become
``--num_train_epochs``, nor ``--save_step 7`` some other ``--save_steps*`` flag."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("trainer.__main__", ["train", "--num_train_epoch", "3"]),
        ("trainer.__main__", ["train", "--save_step", "7"]),
        ("trainer.__main__", ["prepare", "--output_dir", "x", "--max_pair", "3"]),
        ("trainer.__main__", ["predict", "--mod", "builtin:multilingual-e5-small", "a", "b"]),
        ("trainer.__main__", ["push", "--model", "m", "--repo_id", "a/b", "--priv"]),
        ("trainer.__main__", ["runs", "--roo", "runs"]),
        ("trainer.__main__", ["sagemaker", "--role", "r", "--instance", "ml.g5.xlarge"]),
        ("evaluation.__main__", ["sts", "--mod", "builtin:multilingual-e5-small"]),
        ("evaluation.__main__", ["retrieval", "--lim", "3"]),
        ("benchmarks.speed", ["--qui"]),
        ("benchmarks.embed", ["--row", "5"]),
        ("benchmarks.calibration", ["--mod", "x"]),
        ("benchmarks.visitors", ["--qui"]),
    ],
)
def test_an_abbreviated_flag_is_refused(module, argv, capsys):
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "unrecognized arguments" in error and len(error.splitlines()) <= 3, error  # never the whole usage
    assert "did you mean --" in error


@pytest.mark.parametrize(
    ("argv", "nearest"),
    [
        (["trainer", "train", "--learning_rat", "1e-5"], "--learning_rate"),
        (["evaluation", "retrieval", "--serch", "bm25"], "--search"),
        (["trainer", "predict", "--modle", "x", "a", "b"], "--model"),
    ],
)
def test_a_typo_as_typed_answers_in_three_lines_with_the_nearest_flag(argv, nearest):
    import subprocess
    import sys

    from core.paths import PROJECT_ROOT

    done = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 3 and f"did you mean {nearest}?" in lines[0], done.stderr


def test_every_evaluation_command_is_listed_in_its_help(capsys):
    from evaluation.__main__ import main

    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    for command in ("sts", "retrieval", "compare", "mteb"):
        assert f"\n    {command} " in listed, command


def test_the_three_command_lines_share_one_pattern(capsys):
    """One dispatcher: the same help, a suggestion for a typo, one line for any WorkbenchError."""
    from benchmarks.__main__ import main as benchmarks_main
    from evaluation.__main__ import main as evaluation_main
    from trainer.__main__ import main as trainer_main

    for main, typo, meant in ((trainer_main, "trian", "train"), (evaluation_main, "stss", "sts"),
                              (benchmarks_main, "frist", "first")):  # fmt: skip
        assert main([typo]) == 2
        assert f"unknown command {typo!r} (did you mean {meant!r}?)" in capsys.readouterr().err
        assert main([]) == 2 and "commands:" in capsys.readouterr().err
    assert evaluation_main(["sts", "--dataset", "no-such-file.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no-such-file.csv does not exist."]


def test_the_benchmarks_are_one_command_and_the_old_one_points_there(capsys):
    from benchmarks.__main__ import main as benchmarks_main
    from evaluation.__main__ import main as evaluation_main

    assert benchmarks_main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"\n    {name} " in listed for name in ("speed", "first", "embed", "visitors", "calibration"))
    assert benchmarks_main(["sped"]) == 2
    assert "unknown command 'sped' (did you mean 'speed'?)" in capsys.readouterr().err
    assert evaluation_main(["bench", "--quick"]) == 2
    assert "python -m benchmarks speed" in capsys.readouterr().err


def test_a_missing_model_folder_is_said_before_the_heavy_imports(tmp_path):
    import subprocess
    import sys

    from core.paths import PROJECT_ROOT

    code = (
        "import sys; from trainer.__main__ import main; status = main(sys.argv[1:]); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]; "
        "print(status, heavy)"
    )
    for argv in (
        ["train", "--model_name_or_path", str(tmp_path / "nope")],
        ["predict", "--model", "./nope", "a", "b"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=PROJECT_ROOT
        )
        assert done.stdout.strip() == "2 []" and "does not exist" in done.stderr, (done.stdout, done.stderr)
