"""The layout as a rule: each package imports only the layers below it, deferred imports included, and no
module of the project is part of an import cycle.

    app.py ──> space/ ──┬────────────────> evaluation/ ──> core/ (models/, corpora/, shared root)
    benchmarks/ (any) ──┴──> trainer/ ──┘                  (space/ may use core/ directly too)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.paths import PROJECT_ROOT

PACKAGES = ("core", "evaluation", "trainer", "space", "benchmarks")
# What each package must never import (top-level names), anywhere in its files.
FORBIDDEN = {
    "core": {"app", "space", "trainer", "evaluation", "benchmarks", "gradio", "spaces"},
    "evaluation": {"app", "space", "trainer", "benchmarks"},
    "trainer": {"app", "space", "benchmarks"},
    "space": {"app", "trainer", "benchmarks"},
    "benchmarks": set(),
}


def _project_modules() -> dict[str, Path]:
    modules = {"app": PROJECT_ROOT / "app.py"}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imports(path: Path) -> set[str]:
    """Modules a file imports anywhere: an import deferred into a function hides a dependency (and a
    cycle); it does not remove it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_no_layer_above_it(package):
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        above = sorted(name for name in _imports(path) if name.split(".")[0] in FORBIDDEN[package])
        assert not above, f"{path.relative_to(PROJECT_ROOT)} imports {above}"


def test_core_is_split_by_concern():
    core = PROJECT_ROOT / "core"
    assert {p.name for p in core.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} == {
        "models",
        "corpora",
    }
    assert len(list(core.glob("*.py"))) <= 12  # the shared root stays small


def test_no_import_cycle_anywhere():
    modules = _project_modules()
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()
    }
    visiting, done = set(), set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in visiting, "import cycle: " + " -> ".join([*trail, name])
        if name in done:
            return
        visiting.add(name)
        for other in sorted(graph[name]):
            visit(other, [*trail, name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_checker_sees_a_deferred_upward_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def later():\n    from trainer.train import main\n", encoding="utf-8")
    assert "trainer.train" in _imports(sneaky)


def test_the_space_functions_run_without_gradio():
    """``space/`` holds plain functions that tests call directly; only ``space/pages`` lays out Gradio."""
    for path in (PROJECT_ROOT / "space").glob("*.py"):
        gradio = sorted(name for name in _imports(path) if name.split(".")[0] in {"gradio", "spaces"})
        assert not gradio, f"{path.relative_to(PROJECT_ROOT)} imports {gradio}"


def test_no_module_of_the_space_outgrows_a_file():
    assert len((PROJECT_ROOT / "app.py").read_text(encoding="utf-8").splitlines()) <= 250
    for path in (PROJECT_ROOT / "space").rglob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path.name


# Spanish words English text does not use: two of them in a sentence of five words or more mark it Spanish
_SPANISH = {"el", "la", "los", "las", "de", "del", "que", "una", "un", "y", "en", "es", "con", "por", "para",
            "tu", "sin", "se", "no", "al", "su"}  # fmt: skip


def _spanish_sentences(path: Path) -> list[str]:
    """The Spanish sentences written in ``path`` (string literals and f-strings, docstrings left out)."""
    import re

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings, parts, texts = set(), set(), []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docstrings.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):
            parts |= {id(value) for value in node.values}
            texts.append(
                (node, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
            )
    texts += [
        (node, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings | parts
    ]
    found = []
    for node, text in texts:
        words = re.findall(r"[a-záéíóúñü]+", text.lower())
        if len(words) >= 5 and len(_SPANISH & set(words)) >= 2 and re.search(r"[.!?:]", text):
            found.append(f"{path.name}:{node.lineno}: {text[:60]!r}")
    return found


def test_what_visitors_read_is_written_in_one_place():
    """Every Spanish sentence a visitor reads is a template in ``core/messages.py``; pages keep labels."""
    paths = [
        PROJECT_ROOT / "app.py",
        *(PROJECT_ROOT / "space").rglob("*.py"),
        *(PROJECT_ROOT / "core").rglob("*.py"),
    ]
    elsewhere = [
        line
        for path in paths
        if path != PROJECT_ROOT / "core" / "messages.py"
        for line in _spanish_sentences(path)
    ]
    assert not elsewhere, "\n".join(elsewhere)


def test_the_sentence_check_sees_a_message_and_leaves_english_and_labels_alone(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Docstring: una frase que el visitante no lee en la página."""\n'
        'LABEL = "Frase A"\n'
        'LOG = "Could not keep the cached index: the disk is full."\n'
        'NOTE = f"Tu archivo {name}: no tiene pares con puntuación."\n',
        encoding="utf-8",
    )
    found = _spanish_sentences(sample)
    assert [line.split(": ", 1)[1] for line in found] == ["'Tu archivo {}: no tiene pares con puntuación.'"]


def test_every_package_logs_at_info_in_the_served_log():
    """Regression: after the Space moved to ``space/``, its "Ready" and "refused:" lines were silenced."""
    from space.logs import OUR_LOGGERS

    assert {*PACKAGES, "app"} <= set(OUR_LOGGERS)


def test_the_training_recipe_reads_top_to_bottom():
    """``trainer/train.py`` stays a recipe: ``train()`` calls named steps that live in their own modules."""
    source = (PROJECT_ROOT / "trainer" / "train.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 300
    train = next(node for node in ast.parse(source).body if getattr(node, "name", None) == "train")
    assert train.end_lineno - train.lineno + 1 <= 80


def test_the_browser_tests_never_skip_silently():
    """`make test` installs Chromium or stops saying how, and the browser tests fail without it, never
    skip: a green run always includes them."""
    import subprocess

    browser = (PROJECT_ROOT / "tests" / "test_browser.py").read_text(encoding="utf-8")
    assert "pytest.skip(" not in browser and "importorskip" not in browser
    planned = subprocess.run(["make", "-n", "test"], capture_output=True, text=True, cwd=PROJECT_ROOT).stdout
    assert "apt-get install -y -qq chromium" in planned and "pytest" in planned


def test_the_readme_is_short_and_every_link_and_command_in_it_is_real():
    import re

    from benchmarks.__main__ import COMMANDS as BENCHMARKS
    from evaluation.__main__ import COMMANDS as EVALUATION
    from trainer.__main__ import COMMANDS as TRAINER

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for target in re.findall(r"\]\(((?:docs|assets)/[^)#]+)", readme):
        assert (PROJECT_ROOT / target).is_file(), target
    known = {"trainer": TRAINER, "evaluation": EVALUATION, "benchmarks": BENCHMARKS}
    for package, command in re.findall(r"python -m (trainer|evaluation|benchmarks) (\w+)", readme):
        assert command in known[package], f"python -m {package} {command}"
    assert ".venv/bin/python -m" not in readme.replace("or as `.venv/bin/python -m …`", "")  # one way
