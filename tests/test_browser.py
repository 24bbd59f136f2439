"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Starts ``streamlit run app.py`` headless on a free port, waits for ``/_stcore/health``,
opens every page, checks that its charts are drawn and that no exception is shown,
moves the beta slider on the Tune page and checks that the metrics change, draws a "7" on the
Inspect canvas and checks that it is judged normal. Screenshots go
to ``screenshots/`` (git-ignored; ``SCREENSHOT_DIR`` overrides, e.g. docs/screenshots).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; never ``playwright install``).
The server uses the test session's cache folder (tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from dashboard.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGES,
    ROOT,
    ServerError,
    running_app,
    wait_idle as server_wait_idle,
)

SLOW = 600_000  # ms: a fresh server may train the model and compute projections

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium")]


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server") / "streamlit.log"


@pytest.fixture(scope="module")
def server(server_log):
    """The app on a free port, with the session's test cache (see tests/conftest.py)."""
    env = {"DASHBOARD_POINTS": os.environ.get("DASHBOARD_POINTS", "60"), "ANOMALY_CACHE_DIR": os.environ["ANOMALY_CACHE_DIR"]}
    try:
        with running_app(env, server_log) as url:
            yield url
    except ServerError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser):
    return browser.new_page(viewport={"width": 1400, "height": 1000})


def wait_idle(tab, quiet: float = 1.5) -> None:
    """Wait until the script has stopped running for ``quiet`` seconds (Streamlit's own script state)."""
    server_wait_idle(tab, quiet, timeout=SLOW / 1000)


def open_page(tab, url: str, path: str, title: str) -> None:
    tab.goto(f"{url}/{path}")
    tab.get_by_role("heading", name=title).first.wait_for(timeout=SLOW)
    wait_idle(tab)


def shoot(tab, name: str) -> None:
    """Save a screenshot as a small palette PNG (the README's copies live in docs/screenshots)."""
    import io

    from PIL import Image

    folder = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    picture = Image.open(io.BytesIO(tab.screenshot()))
    picture = picture.convert("RGB").resize((picture.width * 3 // 4, picture.height * 3 // 4), Image.LANCZOS)
    picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(folder / f"{name}.png", optimize=True)


TUNE_METRICS = 4  # per-class and global TNR@95TPR and AUROC


def metric_values(tab) -> list[str]:
    """The Tune page's metrics once all of them are drawn and have stopped changing.

    A page that is still rendering (or re-rendering after a rerun) can show only some of them,
    or stale copies next to new ones, so read until two reads a second apart agree."""
    deadline = time.time() + SLOW / 1000
    last = None
    while time.time() < deadline:
        values = tab.locator('[data-testid="stMetricValue"]').all_inner_texts()
        if len(values) == TUNE_METRICS and values == last:
            return values
        last = values
        time.sleep(1.0)
    raise AssertionError(f"the Tune metrics did not settle: {last}")


@pytest.mark.parametrize("path, title", PAGES)
def test_every_page_renders(server, page, path, title):
    open_page(page, server, path, title)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').all_inner_texts()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    if path in ("layers", "tune", "inspect_input", "how_it_works"):
        charts.first.wait_for(timeout=SLOW)
        assert charts.count() >= 1
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)  # Plotly has drawn
    if path == "explore":  # the projections are Vega-Lite (for images in hover tooltips), drawn on a canvas
        page.locator('[data-testid="stVegaLiteChart"] canvas').first.wait_for(timeout=60_000)
    shoot(page, path or "start")


def test_the_server_preloaded_the_first_view(server, server_log):
    """python -m dashboard loaded the default first view in its own thread (dashboard/preload.py), while
    the pages above were opened (the first of them right after the server was healthy)."""
    deadline = time.time() + SLOW / 1000
    while "first view preloaded" not in server_log.read_text() and time.time() < deadline:
        assert "preloading the first view failed" not in server_log.read_text(), server_log.read_text()[-3000:]
        time.sleep(1)
    assert "first view preloaded" in server_log.read_text(), server_log.read_text()[-3000:]


def move_beta(tab, key: str) -> None:
    """Press a key on the beta slider and wait for the metrics to change."""
    before = metric_values(tab)
    slider = tab.locator('[data-testid="stSlider"]', has_text="β₂").get_by_role("slider")
    slider.focus()
    slider.press(key)
    tab.wait_for_function("([before, count]) => { const v = [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
                          ".map(e => e.innerText); return v.length === count && v.join() !== before; }",
                          arg=[",".join(before), TUNE_METRICS], timeout=60_000)
    wait_idle(tab)


def test_beta_slider_changes_numbers(server, page):
    open_page(page, server, "tune", "Tune")
    before = metric_values(page)
    move_beta(page, "End")  # beta_2 = 1: logits only
    after = metric_values(page)
    assert after != before
    assert float(after[1]) < float(before[1])  # per-class AUROC falls with logits only on LeNet/MNIST
    assert page.locator('[data-testid="stException"]').count() == 0
    shoot(page, "tune-logits-only")


def test_explore_hover_image_click_and_box_selection_per_class_view(server, page):
    open_page(page, server, "explore", "Explore layers")
    canvas = page.locator('[data-testid="stVegaLiteChart"] canvas').first
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    # hover: sweep the plot until the tooltip shows a point; it must carry the input's image
    tooltip = page.locator("#vg-tooltip-element.visible")
    spots = [(box["x"] + (0.05 + 0.9 * i / 24) * box["width"], box["y"] + (0.1 + 0.7 * j / 16) * box["height"])
             for j in range(17) for i in range(25)]
    for x, y in spots:
        page.mouse.move(x, y)
        if tooltip.count():
            break
    assert tooltip.count() == 1, "no tooltip while sweeping the projection"
    assert tooltip.locator("img").get_attribute("src").startswith("data:image/png;base64,")
    assert "predicted" in tooltip.inner_text()
    shoot(page, "explore-hover")
    # click the hovered point: it alone is shown below
    page.mouse.click(x, y)
    page.get_by_text(re.compile(r"^1 selected \(")).wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator('[data-testid="stImage"] img').count() == 1
    # box selection: drag over most of the plot, the selected inputs appear as images
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.15 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.75 * box["height"], steps=12)
    page.mouse.up()
    chosen = page.get_by_text(re.compile(r"^\d{2,} selected"))
    chosen.wait_for(timeout=60_000)
    wait_idle(page)
    count = chosen.inner_text().split()[0]
    assert page.locator('[data-testid="stImage"] img').count() > 1
    assert page.get_by_text(re.compile(r"^[✓✗] ")).count() > 1  # the grid gives verdicts
    assert page.get_by_role("button", name="Images (.npz)").count() == 1
    shoot(page, "explore-selection")
    page.get_by_text("Per predicted class (Figs 3, 5, 6)", exact=True).click()
    page.get_by_text("per predicted class").first.wait_for(timeout=SLOW)
    wait_idle(page)
    page.locator('[data-testid="stVegaLiteChart"] canvas').first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text(re.compile(rf"^{count} selected")).count() == 1  # the selection survived the switch
    shoot(page, "explore-per-class")


def test_sessions_keep_their_own_choices(server, browser):
    """Two browser sessions: moving beta in one leaves the other's numbers alone."""
    first, second = (browser.new_context().new_page() for _ in range(2))
    open_page(first, server, "tune", "Tune")
    open_page(second, server, "tune", "Tune")
    default = metric_values(second)
    assert metric_values(first) == default
    move_beta(first, "Home")  # beta_2 = 0: MDL only
    assert metric_values(first) != default
    second.reload()
    second.get_by_role("heading", name="Tune").first.wait_for(timeout=SLOW)
    wait_idle(second)
    assert metric_values(second) == default


def test_inspect_a_digit_drawn_with_the_mouse_is_judged_normal(server, page):
    """Issue 15: a "7" drawn on the canvas with the mouse (one stroke, as a visitor draws it) is
    fitted MNIST-style, predicted as 7 and judged normal."""
    open_page(page, server, "inspect_input", "Inspect")
    page.get_by_text("draw", exact=True).click()
    # streamlit-drawable-canvas 0.13 renders in the page (an open shadow root, no iframe); fabric.js
    # takes the pointer on its upper canvas
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for(timeout=60_000)
    wait_idle(page)
    box = canvas.bounding_box()
    assert round(box["width"]) == round(box["height"]) == 280  # the Inspect page's 280x280 canvas
    # the "7" of tests/drawn_digits.py (pen width 18, which passes there): a bar and a slanted stem
    stroke = [(85, 55), (195, 55), (125, 235)]
    page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
    page.mouse.down()
    for x, y in stroke[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=25)
    page.mouse.up()
    prediction = page.locator('[data-testid="stMetric"]', has_text="Prediction").locator('[data-testid="stMetricValue"]')
    prediction.wait_for(timeout=SLOW)
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').all_inner_texts()
    verdict = page.locator('[data-testid="stAlert"]', has_text=re.compile("Normal|Anomaly")).inner_text()
    assert prediction.inner_text() == "7", (prediction.inner_text(), verdict)
    assert verdict.startswith("Normal"), verdict
    captions = (page.locator('[data-testid="stImage"]').all_inner_texts()
                + page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert any("as drawn" in c for c in captions) and any("MNIST-style" in c for c in captions), captions
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)  # the score plane with the drawing on it
    shoot(page, "inspect-drawn")


def _draw(tab, strokes) -> None:
    """Draw ``strokes`` (lists of (x, y) on the 280x280 canvas) with the mouse, after clearing the canvas."""
    canvas = tab.locator("canvas.upper-canvas")
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    for stroke in strokes:
        tab.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        tab.mouse.down()
        for x, y in stroke[1:]:
            tab.mouse.move(box["x"] + x, box["y"] + y, steps=25)
        tab.mouse.up()


@pytest.mark.parametrize("what, thinnest, strokes", [
    ("a thin 2", True, [[(85, 95), (110, 55), (150, 45), (190, 75), (185, 120), (90, 230), (200, 230)]]),
    ("a capital A", False, [[(80, 240), (140, 40), (200, 240)], [(105, 160), (175, 160)]]),
])
def test_inspect_shows_why_a_drawing_got_its_verdict(server, browser, what, thinnest, strokes):
    """Issue 28: for a thin digit and a letter, Inspect shows the nearest training inputs in both spaces
    and a bar per term against its tau; the thin digit's strokes are called thinner than the training data's."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})  # a fresh canvas for each drawing
    open_page(tab, server, "inspect_input", "Inspect")
    tab.get_by_text("draw", exact=True).click()
    wait_idle(tab)
    if thinnest:  # the pen slider to its minimum, 6 px (the thin "2")
        tab.locator('[data-testid="stSlider"]', has_text="Pen width").get_by_role("slider").press("Home")
        wait_idle(tab)
    _draw(tab, strokes)
    tab.get_by_role("heading", name="Why this verdict").wait_for(timeout=SLOW)
    wait_idle(tab)
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.locator('[data-testid="stException"]').all_inner_texts()
    text = tab.locator('[data-testid="stMain"]').inner_text()
    assert text.count("Nearest training inputs predicted as") == 2, text
    bars = tab.locator(".js-plotly-plot", has_text="Each term against its own threshold")  # the term bars (SVG)
    bars.wait_for(timeout=60_000)
    assert bars.locator(".bars path").count() == 5  # the default detector's MDL, logit, confidence and neighbours, and g
    images = "\n".join(tab.locator('[data-testid="stImage"]').all_inner_texts())
    assert len(re.findall(r"^\d+\.\d\d \(a .+\)$", images, re.M)) == 10, images  # 5 neighbours in each space
    if what == "a thin 2":
        assert "its stroke width" in text and "thinner than 99 %" in text, text
    shoot(tab, f"inspect-why-{what.split()[-1].lower()}")
    tab.close()
