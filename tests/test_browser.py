"""The page in a real browser: Debian's Chromium driven by Playwright, with screenshots as artifacts."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from core.paths import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Chromium is not installed (`.ci/run` installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def page(served_app):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(served_app)
        page.get_by_text("Embeddings de frases en español").wait_for(timeout=60_000)
        yield page
        browser.close()


def test_similarity_in_the_browser(page):
    page.locator("#sentence-a textarea").fill("El Gobierno aprueba los presupuestos")
    page.locator("#sentence-b textarea").fill("El Gobierno aprueba los presupuestos")
    page.locator("#compare").click()
    reading = page.locator("#reading textarea")
    page.wait_for_function(
        "() => document.querySelector('#reading textarea').value.length > 0", timeout=60_000
    )
    assert reading.input_value().startswith("Casi lo mismo")
    assert float(page.locator("#score input").input_value()) == pytest.approx(1.0, abs=1e-3)
    page.screenshot(path=str(ARTIFACTS / "similarity.png"), full_page=True)


def test_search_in_the_browser(page):
    page.get_by_role("tab", name="Búsqueda semántica").click()
    page.locator("#query textarea").fill("incendios forestales y sequía")
    page.locator("#search").click()
    scores = page.locator("#results").get_by_text(re.compile(r"^-?[01]\.\d+$")).filter(visible=True)
    scores.nth(4).wait_for(timeout=60_000)  # k = 5 results, each with its cosine score
    assert page.locator("#results").get_by_text("fragmento").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)


@pytest.mark.parametrize(
    ("tab", "button", "expect"),
    [
        ("Mapa de clusters", "Dibujar mapa", "#cluster-plot .js-plotly-plot"),
        ("Duplicados", "Buscar duplicados", "#duplicates-summary >> text=pares con similitud"),
        ("Evaluación", "Evaluar", "#evaluation-table >> text=bundled:test"),
        ("Acerca de", None, "#about >> text=Corpus"),
    ],
)
def test_every_tab_renders(page, tab, button, expect):
    page.get_by_role("tab", name=tab).click()
    if button:
        page.get_by_role("button", name=button).click()
    page.locator(f"{expect} >> visible=true").first.wait_for(timeout=120_000)  # tables keep hidden copies
    page.screenshot(path=str(ARTIFACTS / f"tab-{tab.split()[0].lower()}.png"), full_page=True)


def test_an_uploaded_file_becomes_the_map_of_that_visitor(page, tmp_path):
    import json

    path = tmp_path / "mis_recetas.jsonl"
    rows = [{"title": f"Receta de arroz {i}", "text": f"Se cuece el arroz {i} minutos", "category": "cocina"}
            for i in range(25)]  # fmt: skip
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    visitor = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    visitor.goto(page.url)
    visitor.get_by_role("tab", name="Búsqueda semántica").click()
    visitor.get_by_text("Tu propio corpus").click()
    visitor.locator("#upload input[type=file]").set_input_files(str(path))
    visitor.locator("#corpus-banner >> text=mis_recetas.jsonl").wait_for(timeout=60_000)
    visitor.get_by_role("tab", name="Mapa de clusters").click()
    visitor.get_by_role("button", name="Dibujar mapa").click()
    visitor.locator("#cluster-plot .js-plotly-plot >> visible=true").first.wait_for(timeout=120_000)
    texts = visitor.evaluate(
        "() => document.querySelector('#cluster-plot .js-plotly-plot').data.flatMap(t => t.text || [])"
    )
    visitor.screenshot(path=str(ARTIFACTS / "upload-map.png"), full_page=True)
    assert len(texts) == 25 and all(text.startswith("Receta de arroz") for text in texts)
    assert "mis_recetas.jsonl" not in page.locator("#corpus-banner").inner_text()  # the other visitor
    visitor.locator("#reset-corpus").click()  # the way back is on every tab
    visitor.locator("#corpus-banner >> text=noticias incluidas").wait_for(timeout=30_000)
    visitor.get_by_role("tab", name="Búsqueda semántica").click()
    visitor.locator("#upload input[type=file]").set_input_files(str(path))
    visitor.locator("#corpus-banner >> text=mis_recetas.jsonl").wait_for(timeout=60_000)
    visitor.locator("#upload button[aria-label='Clear']").click()  # so does removing the file
    visitor.locator("#corpus-banner >> text=noticias incluidas").wait_for(timeout=30_000)
    visitor.close()
