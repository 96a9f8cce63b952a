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

if not os.path.exists(CHROMIUM):  # never a silent skip: `make test` installs it, or says how
    pytest.fail(
        "The browser tests need Chromium: run `make test` (it installs it with apt when it can), or "
        "`sudo apt-get install chromium`.",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def page(served_app):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # a Spanish visitor's browser: Gradio's own words (upload box, footer) follow its locale
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="es-ES")
        page.goto(served_app)
        page.get_by_text("Embeddings de frases en español").wait_for(timeout=60_000)
        yield page
        browser.close()


# English a Spanish visitor must not meet on the page (Gradio's defaults and our old labels included)
ENGLISH = re.compile(
    r"\b(Examples|Predicted|gold score|cosine similarity|Submit|Drop File Here|Click to Upload|Use via API"
    r"|Loading|Error|Clear|Flag|Runs|Built with)\b"
)


def no_english(page) -> None:
    text = page.locator("body").inner_text()
    assert not ENGLISH.findall(text), ENGLISH.findall(text)


def download(page, link_selector: str):
    """Click a file output's link and return the downloaded file's path."""
    page.locator(f"{link_selector} a >> visible=true").first.wait_for(timeout=120_000)
    with page.expect_download() as info:
        page.locator(f"{link_selector} a >> visible=true").first.click()
    return info.value.path()


def read_csv(path) -> list[dict]:
    import csv
    from pathlib import Path

    return list(csv.DictReader(Path(path).read_text(encoding="utf-8-sig").splitlines()))


def test_introduction_and_the_similarity_reading_in_the_browser(page):
    intro = page.locator("#introduction").inner_text()
    assert "Similitud" in intro and "Búsqueda semántica" in intro and "Evaluación" in intro
    # idle reads as idle: no number before a comparison
    assert not page.locator("#sts input").is_visible() and not page.locator("#score input").is_visible()
    assert "0" not in page.locator("#reading textarea").input_value()
    page.locator("#sentence-a textarea").fill("El Gobierno aprueba los presupuestos")
    page.locator("#sentence-b textarea").fill("El Gobierno aprueba los presupuestos")
    page.locator("#compare").click()
    reading = page.locator("#reading textarea")
    page.wait_for_function(
        "() => document.querySelector('#reading textarea').value.length > 0", timeout=60_000
    )
    assert "Casi lo mismo" in reading.input_value()
    assert float(page.locator("#sts input").input_value()) == 5.0
    assert float(page.locator("#score input").input_value()) == pytest.approx(1.0, abs=1e-3)
    page.screenshot(path=str(ARTIFACTS / "similarity.png"), full_page=True)
    no_english(page)


def test_search_read_a_result_and_download_csv_and_embeddings(page):
    page.get_by_role("tab", name="Búsqueda semántica").click()
    page.locator("#query textarea").fill("incendios forestales y sequía")
    page.locator("#search").click()
    scores = page.locator("#results").get_by_text(re.compile(r"^-?[01]\.\d+$")).filter(visible=True)
    scores.nth(4).wait_for(timeout=60_000)  # k = 5 results, each with its cosine score
    assert page.locator("#results").get_by_text("fragmento").count() >= 1
    font = page.evaluate("() => getComputedStyle(document.querySelector('#results .body-cell')).fontFamily")
    assert "Mono" not in font and "monospace" not in font  # results read in the page's font
    rows = read_csv(download(page, "#results-file"))
    assert len(rows) == 5 and rows[0]["posición"] == "1" and len(rows[0]["texto"]) > 100
    scores.first.click()  # a row opened: its full text below the table
    page.locator("#full-text >> text=" + rows[0]["id"]).wait_for(timeout=30_000)
    assert rows[0]["texto"][:200].split(".")[0] in page.locator("#full-text").inner_text()
    page.get_by_text("Descargar los embeddings").click()
    page.locator("#export-embeddings").click()
    import pyarrow.parquet as pq

    table = pq.read_table(download(page, "#embeddings-file"))
    assert table.num_rows == 570 and "embedding" in table.column_names
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
    no_english(page)


def test_map_lists_and_marks_the_nearest_news(page):
    page.get_by_role("tab", name="Mapa de clusters").click()
    page.locator("#map-sentence textarea").fill("El Barça ficha a un delantero")
    page.locator("#draw-map").click()
    page.wait_for_function(  # the map drawn with the sentence and its ringed neighbours
        "() => { const p = document.querySelector('#cluster-plot .js-plotly-plot');"
        " return p && p.data && p.data.some(t => t.name === 'sus vecinos'); }",
        timeout=120_000,
    )
    ringed = page.evaluate(
        "() => document.querySelector('#cluster-plot .js-plotly-plot').data"
        ".find(t => t.name === 'sus vecinos').text"
    )
    assert len(ringed) == 8
    for title in ringed[:3]:  # the neighbours' table lists the same texts (the tiny model's choice)
        # a visible one: gradio also keeps hidden copies of cells, and the first match may be one of them
        page.locator("#neighbours").get_by_text(title[:30]).filter(visible=True).first.wait_for(
            timeout=30_000
        )
    page.screenshot(path=str(ARTIFACTS / "map-neighbours.png"), full_page=True)
    no_english(page)


def test_duplicates_on_the_0_5_scale_and_download(page):
    page.get_by_role("tab", name="Duplicados").click()
    page.locator("#find-duplicates").click()
    page.locator("#duplicates-summary >> text=pares con lectura").wait_for(timeout=120_000)
    rows = read_csv(download(page, "#duplicates-file"))
    assert rows and {"0–5", "coseno", "id A", "id B"} <= set(rows[0])
    page.screenshot(path=str(ARTIFACTS / "duplicates.png"), full_page=True)
    no_english(page)


def test_evaluation_on_the_visitors_own_file_and_download(page, tmp_path):
    path = tmp_path / "mis_pares.csv"
    lines = ["sentence1,sentence2,score"]
    lines += [f"Frase {i} sobre el clima,Frase {i} sobre la lluvia,{i % 6}" for i in range(20)]
    path.write_text("\n".join(lines), encoding="utf-8")
    page.get_by_role("tab", name="Evaluación").click()
    page.locator("#sts-file input[type=file]").set_input_files(str(path))
    page.locator("#evaluate").click()
    page.locator("#evaluation-table >> text=mis_pares.csv >> visible=true").first.wait_for(timeout=120_000)
    rows = read_csv(download(page, "#evaluation-file"))
    assert rows[0]["conjunto"] == "mis_pares.csv" and rows[0]["pares"] == "20"
    page.locator("#improvement >> text=¿Mejoró el ajuste?").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "tab-evaluación.png"), full_page=True)
    no_english(page)


def test_about_tab_in_the_browser(page):
    page.get_by_role("tab", name="Acerca de").click()
    page.locator("#about >> text=Como servidor MCP >> visible=true").first.wait_for(timeout=60_000)
    assert page.locator("#about table >> visible=true").count() >= 1  # the models as a table
    page.screenshot(path=str(ARTIFACTS / "tab-acerca.png"), full_page=True)
    no_english(page)


def test_an_uploaded_file_becomes_the_map_of_that_visitor(page, tmp_path):
    import json

    path = tmp_path / "mis_recetas.jsonl"
    rows = [{"title": f"Receta de arroz {i}", "text": f"Se cuece el arroz {i} minutos", "category": "cocina"}
            for i in range(25)]  # fmt: skip
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    visitor = page.context.browser.new_page(viewport={"width": 1280, "height": 1000}, locale="es-ES")
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
    visitor.locator("#upload button[aria-label]").last.click()  # so does removing the file (its ✕)
    visitor.locator("#corpus-banner >> text=noticias incluidas").wait_for(timeout=30_000)
    visitor.close()
