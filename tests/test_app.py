"""The dashboard, page by page, with Streamlit's AppTest on the default model (lenet-mnist).

Every page must render without an exception, and moving a slider must change the metrics
it shows. Plotly and Vega-Lite charts cannot be driven here (see tests/test_browser.py for them).

They share the session's cache folder (tests/conftest.py): the default model is trained once.
Projections use DASHBOARD_POINTS=60 inputs per set to stay small.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["start", "explore", "layers", "tune", "benchmark", "inspect_input", "how_it_works"]
TIMEOUT = 600  # the first run of a session may train the model and compile UMAP


@pytest.fixture(autouse=True)
def few_points(monkeypatch):
    monkeypatch.setenv("DASHBOARD_POINTS", "60")


@pytest.fixture(autouse=True)
def navigation_pages():
    """Run the app as a server does once st.navigation has been called (see dashboard.sidebar.navigation_only)."""
    from dashboard.sidebar import navigation_only_in_apptest

    with navigation_only_in_apptest():
        yield


@pytest.fixture(scope="module", autouse=True)
def warm_default_model():
    """Train (first run only) and fit the default outside AppTest's per-run timeout."""
    from detector.evaluation.experiment import fit_uniform, load_experiment

    fit_uniform(load_experiment("lenet-mnist"))


def open_page(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page != "start":  # the default page
        at.switch_page(f"pages/{page}.py").run()
    return at


def problems(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error if not e.value.startswith("**Anomaly**")]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page):
    at = open_page(page)
    assert not problems(at), problems(at)
    assert at.title and at.title[0].value
    assert len(at.sidebar.selectbox) >= 2  # the shared pickers are there on every page
    # the built-in default's weights ship: the sidebar must not say it is trained here
    assert any("ID dataset" in c.value and "shipped trained weights" in c.value for c in at.sidebar.caption)


def test_start_page_explains_the_tool_and_leads_to_the_drawing_canvas():
    from dashboard.glossary import TERMS

    at = open_page("start")
    assert at.title[0].value == "Start here"
    text = " ".join(m.value for m in at.markdown)
    assert "lenet-mnist" in text and "anomaly" in text
    for term in ("ID", "OOD", "MDL", "UMAP", "τ", "β", "ν", "TNR at 95 % TPR", "TPR", "AUROC", "γ", "g − τ",
                 "normalised score"):
        assert f"**{term}**: {TERMS[term]}" in text
    at.button(key="start_draw").click().run()
    assert not problems(at), problems(at)
    assert at.title[0].value == "Inspect an input" and at.radio(key="inspect_source").value == "draw"


def test_tune_beta_slider_changes_metrics():
    at = open_page("tune")
    before = metrics(at)
    assert "per-class AUROC" in before
    at.slider(key="_beta").set_value(1.0).run()  # logits only
    after = metrics(at)
    assert not problems(at), problems(at)
    assert after != before
    assert float(after["per-class AUROC"]) < float(before["per-class AUROC"])
    at.switch_page("pages/inspect_input.py").run()  # beta is kept across pages, for the paper's detector
    at.selectbox(key="inspect_method").set_value("ours").run()
    assert any("0.00·MDL + 1.00·logit" in c.value for c in at.caption)  # the formula under the metrics
    assert any(m.label == "g" and "1.00·logit" in m.help for m in at.metric)
    at.switch_page("pages/tune.py").run()  # and the slider reads it again on return
    assert at.slider(key="_beta").value == 1.0


def test_tune_sliders_always_read_the_beta_in_force():
    """Issue 28: beta_2 = 0.5 and beta_3 moved to 1.0 read 0.50 and 1.00 while beta was (0, 0.33, 0.67)."""
    at = open_page("tune")
    at.slider(key="_beta_conf").set_value(1.0).run()
    assert not problems(at), problems(at)
    assert (at.slider(key="_beta").value, at.slider(key="_beta_conf").value) == (0.0, 1.0)  # the other gave way
    assert any(c.value.startswith("β = (0.00, 0.00, 1.00)") for c in at.caption)
    at.slider(key="_beta").set_value(0.3).run()
    assert (at.slider(key="_beta").value, at.slider(key="_beta_conf").value) == (0.3, 0.7)
    assert any(c.value.startswith("β = (0.00, 0.30, 0.70)") for c in at.caption)
    at.slider(key="_beta_conf").set_value(0.2).run()  # within the simplex: the other stays
    assert (at.slider(key="_beta").value, at.slider(key="_beta_conf").value) == (0.3, 0.2)
    assert not at.warning, [w.value for w in at.warning]  # no "set via the Session State API" warning


def test_tune_metrics_show_deltas_against_the_previous_beta():
    at = open_page("tune")
    assert all(not m.delta for m in at.metric)  # nothing to compare with yet
    before = metrics(at)
    at.slider(key="_beta").set_value(0.8).run()
    after = metrics(at)
    deltas = {m.label: m.delta for m in at.metric}
    for label in before:
        assert deltas[label][0] in "+-"  # from the unrounded means: within a rounding step of the shown ones
        assert abs(float(deltas[label]) - (float(after[label]) - float(before[label]))) <= 0.0101
    assert "change since β = (0.50, 0.50, 0.00)" in at.metric[0].help
    at.selectbox(key="tune_set").set_value(at.selectbox(key="tune_set").options[-1]).run()  # same beta: kept
    assert {m.label: m.delta for m in at.metric} == deltas
    at.slider(key="_beta").set_value(0.6).run()  # now against beta_2 = 0.8
    assert "change since β = (0.20, 0.80, 0.00)" in at.metric[0].help
    assert not problems(at), problems(at)


def test_tune_nu_slider_refits():
    at = open_page("tune")
    before = metrics(at)
    at.select_slider(key="_nu").set_value(0.3).run()
    assert not problems(at), problems(at)
    assert metrics(at) != before
    assert "ν = 0.3" in " ".join(c.value for c in at.sidebar.caption)


def test_explore_views_and_colouring():
    at = open_page("explore")
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # MDL and logits side by side
    for colour in ("score", "verdict"):
        at.radio(key="explore_colour").set_value(colour).run()
        assert not problems(at), problems(at)
        spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
        assert spec["encoding"]["shape"]["legend"]["title"] == "set: ID / anomaly"
        assert spec["encoding"]["color"]["field"] == ("g − τ" if colour == "score" else "verdict")
    at.slider(key="explore_neighbors").set_value(10).run()
    assert not problems(at), problems(at)
    assert len(at.get("vega_lite_chart")) == 2


def test_layers_page_lists_every_candidate_layer():
    at = open_page("layers")
    table = at.dataframe[0].value  # a LeNet's candidates are all its layers
    assert len(table) == 9 and list(table["layer"])[-2:] == ["logits", "confidence"] and (table["MDL"] == "★").sum() == 1
    at.selectbox(key="layers_pick").set_value("conv1")
    at.button(key="layers_use").click().run()
    assert not problems(at), problems(at)
    assert at.sidebar.selectbox[1].value == "conv1"


def test_inspect_picks_an_input_and_changes_verdict_inputs():
    at = open_page("inspect_input")
    first = metrics(at)
    assert "Prediction" in first
    at.selectbox(key="inspect_set").set_value("gaussian").run()
    assert not problems(at), problems(at)
    assert at.error or at.success  # a verdict is shown
    assert metrics(at) != first


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_inspect_upload_drawing_gets_a_verdict():
    drawing = np.full((120, 100), 255, np.uint8)
    drawing[20:100, 45:55] = 0  # a dark "1" on white paper
    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload("one.png", _png(drawing), "image/png").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Cannot use" in e.value]
    assert metrics(at)["Prediction"] in [str(i) for i in range(10)]
    assert at.success or at.error  # the verdict


def test_inspect_drawn_digit_is_fitted_like_mnist_and_shown_beside_its_original():
    from tests.drawn_digits import draw_digit

    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("draw").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(e.key == "inspect_canvas" for e in at.main.children.values() if hasattr(e, "key"))  # the canvas
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload("seven.png", draw_digit(7, 18), "image/png").run()
    assert not problems(at), problems(at)
    assert metrics(at)["Prediction"] == "7" and at.success and "Normal" in at.success[0].value
    captions = at.get("image")[0].captions
    assert [caption.split(";")[0] for caption in captions] == ["as drawn / uploaded", "model input"]
    assert "MNIST-style" in captions[1]
    at.toggle(key="inspect_mnist_style").set_value(False).run()  # the whole picture shrunk (antialiased)
    assert not problems(at), problems(at)
    assert "MNIST-style" not in at.get("image")[0].captions[1]


def test_inspect_says_why_a_thin_drawing_is_an_anomaly():
    """Issue 28: the nearest training inputs in both spaces, a bar per term against its tau, the stroke note."""
    from tests.drawn_digits import draw_digit

    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload("thin2.png", draw_digit(2, 6), "image/png").run()
    assert not problems(at), problems(at)
    assert metrics(at)["Prediction"] == "2" and at.error and "Anomaly" in at.error[0].value
    assert all(len(m.label) <= 16 for m in at.metric)  # labels short enough not to be cut
    assert "Why this verdict" in [h.value for h in at.subheader]
    assert any(t.value.startswith("• its stroke width") and "thinner" in t.value for t in at.text)
    images = at.get("image")
    assert len(images) == 3 and all(len(i.captions) == 5 for i in images[1:])  # the input, then 5 neighbours per space
    spaces = [m.value for m in at.markdown if m.value.startswith("**Nearest training inputs")]
    assert len(spaces) == 2 and "relu1" in spaces[0] and "logits" in spaces[1]
    bars = [c for c in at.get("plotly_chart") if c.proto.id and "inspect_terms" in c.proto.id]
    assert bars, "the term bars"


def test_inspect_judges_with_the_default_detector_and_the_papers_one_choice_away():
    """The default detector is named and used; "why" agrees with the verdict; a term of weight 0 does not count."""
    import json

    from detector.evaluation.judging import DEFAULT_METHOD
    from tests.drawn_digits import draw_digit

    at = open_page("inspect_input")
    assert at.selectbox(key="inspect_method").value == DEFAULT_METHOD
    assert at.selectbox(key="inspect_method").options[0].startswith(f"{DEFAULT_METHOD} (the default")
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload("seven.png", draw_digit(7, 18), "image/png").run()
    assert not problems(at), problems(at)
    verdict = (at.error or at.success)[0].value
    assert f"({DEFAULT_METHOD})" in verdict
    head = (at.warning if "Anomaly" in verdict else at.success)[-1].value  # "why this verdict" says the same
    assert head.startswith("anomaly:" if "Anomaly" in verdict else "normal:")
    at.selectbox(key="inspect_method").set_value("ours").run()  # the paper's detector: beta (0.5, 0.5, 0)
    assert not problems(at), problems(at)
    assert "(ours)" in (at.error or at.success)[0].value
    assert any("confidence term: weight 0, does not count" in t.value for t in at.text)
    bars = [c for c in at.get("plotly_chart") if c.proto.id and "inspect_terms" in c.proto.id][0]
    labels = json.loads(bars.proto.spec)["data"][0]["y"]
    assert "confidence (weight 0: does not count)" in labels


@pytest.mark.parametrize("name, content", [
    ("notes.png", b"this is not a picture"),
    ("tiny.png", None),  # 3x3 pixels
    ("bad.npy", b"\x93NUMPY garbage"),
    ("cube.npy", None),  # 5-D array
])
def test_inspect_bad_upload_gives_a_message_not_a_traceback(name, content):
    if name == "tiny.png":
        content = _png(np.zeros((3, 3), np.uint8))
    if name == "cube.npy":
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((2, 2, 2, 2, 2), np.float32))
        content = buffer.getvalue()
    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload(name, content).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and "Cannot use this file" in at.error[0].value


def test_read_upload_shapes():
    from detector.inputs.uploads import read_upload

    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[16:48, 30:34] = 255
    images, notes = read_upload("x.png", _png(rgb), (1, 28, 28))
    assert images.shape == (1, 1, 28, 28) and images.dtype == np.float32 and 0 <= images.min() <= images.max() <= 1
    assert any("resized" in n for n in notes) and not any("inverted" in n for n in notes)
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(0).uniform(0, 1, (3, 1, 28, 28)).astype(np.float32))
    images, _ = read_upload("x.npy", buffer.getvalue(), (1, 28, 28))
    assert images.shape == (3, 1, 28, 28)


def test_benchmark_shows_the_committed_reports_cells_at_once_marked_with_its_date():
    """A built-in's cells come from docs/results-<model>.json before anything is computed (the page was
    empty until a 49 s computation), each marked, with the report's date."""
    import json
    import re

    at = open_page("benchmark")
    assert not problems(at), problems(at)
    assert not any(b.key in ("bench_compute", "bench_compute_one") for b in at.button)  # nothing left to compute
    caption = next(c.value for c in at.caption if "committed report" in c.value)
    report = json.loads((ROOT / "docs" / "results-lenet-mnist.json").read_text())
    generated = re.search(r"Generated (\d{4}-\d{2}-\d{2})", (ROOT / "docs" / "results-lenet-mnist.md").read_text())
    assert generated.group(1) in caption and "results-lenet-mnist.json" in caption
    table = at.dataframe[0].value
    shown = str(table.loc["ours", "fashion-mnist"])
    figure = next(r for r in report["rows"] if (r["method"], r["anomaly"], r["weighting"], r["protocol"])
                  == ("ours", "fashion-mnist", "per-class", "held-out"))
    assert shown == f"{figure['tnr_at_95_tpr']:.2f} †"  # the report's figure, marked


def test_benchmark_computes_missing_cells(monkeypatch):
    from dashboard import benchmark_view

    monkeypatch.setattr(benchmark_view, "builtin_report", lambda ids: None)  # every cell computed here
    at = open_page("benchmark")
    assert "ours" in at.multiselect(key="bench_methods").options
    at.multiselect(key="bench_methods").set_value(["ours"]).run()
    if any(b.key == "bench_compute" for b in at.button):  # cells missing from the disk cache
        at.button(key="bench_compute").click().run()
    assert not problems(at), problems(at)
    tables = [d.value for d in at.dataframe]
    assert tables and "ours" in tables[0].index
    assert set(tables[0].columns) >= {"fashion-mnist", "gaussian"}


def test_benchmark_explains_methods_computes_one_cell_and_notes_gaps_to_the_paper(monkeypatch):
    from dashboard import benchmark_view

    monkeypatch.setattr(benchmark_view, "builtin_report", lambda ids: None)
    at = open_page("benchmark")
    at.multiselect(key="bench_methods").set_value(["ours", "msp"]).run()
    text = " ".join(m.value for m in at.markdown)
    assert "**msp**: the largest softmax probability (Hendrycks & Gimpel" in text and "**ours**:" in text
    while any(b.key == "bench_compute_one" for b in at.button):  # one cell per click
        left = len(at.selectbox(key="bench_cell").options)
        at.button(key="bench_compute_one").click().run()
        assert not problems(at), problems(at)
        assert not any(b.key == "bench_compute_one" for b in at.button) or len(at.selectbox(key="bench_cell").options) < left
    captions = " ".join(c.value for c in at.caption)
    assert "msp × fashion-mnist" in captions and "3,500 MNIST training images" in captions  # 76 vs the paper's 98


def test_method_descriptions_and_gap_notes():
    import pandas as pd

    from dashboard import methods
    from detector.evaluation.benchmark import METHODS

    for name, cls in METHODS.items():  # every registered method is explained, from its class
        assert methods.describe(name) == f"**{name}**: {cls.info.description} ({cls.info.reference})"
    assert methods.describe("msp+oe").startswith("**msp+oe**: the largest softmax probability, on the classifier")
    ours = pd.DataFrame({"fashion-mnist": [76.2, 99.8], "gaussian": [100.0, 100.0]}, index=["msp", "ours"])
    paper = pd.DataFrame({"fashion-mnist": [97.9, 99.72]}, index=["msp", "ours"])
    notes = methods.far_from_paper(ours, paper)
    assert len(notes) == 1 and notes[0].startswith("**msp × fashion-mnist**: 76.2 here vs 97.9 in the paper")


def test_inspect_places_the_input_in_the_projection():
    at = open_page("inspect_input")
    assert not at.get("vega_lite_chart")
    at.toggle(key="inspect_umap").set_value(True).run()
    assert not problems(at), problems(at)
    assert len(at.get("vega_lite_chart")) == 1


USER_MODEL_FILE = """
import torch
import torch.nn as nn


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64, 10))
"""


def test_user_model_from_file(tmp_path, monkeypatch):
    from dashboard.model_loading import USER_MODEL

    path = tmp_path / "user_net.py"
    path.write_text(USER_MODEL_FILE)
    monkeypatch.setenv("DASHBOARD_MODEL_DIR", str(tmp_path))  # whoever starts the server allows this folder
    at = open_page("tune")
    at.selectbox(key="_model").set_value(USER_MODEL).run()
    assert at.info  # asks for the file
    at.selectbox(key="user_id_dataset").set_value("digits").run()
    at.text_input(key="user_spec").input(f"{path}:make_model").run()
    untrained = problems(at)  # no weights: an untrained net, loudly flagged on every page
    assert len(untrained) == 1 and "near chance" in untrained[0] and "is the model trained?" in untrained[0], untrained
    assert "per-class AUROC" in metrics(at)
    at.switch_page("pages/benchmark.py").run()
    assert any("near chance" in e.value for e in at.error)
    at.text_input(key="user_spec").input(f"{path}:no_such_factory").run()
    assert not at.exception
    assert at.error and "no function" in at.error[0].value
    assert not at.get("status")  # the error took the loading box's place
    at.text_input(key="user_spec").input("missing_model.py:make").run()
    assert at.error and "model file not found" in at.error[0].value and str(Path.cwd()) not in at.error[0].value


def test_user_model_on_an_id_folder_with_an_anomaly_folder(tmp_path, monkeypatch):
    """The sidebar takes an ID image folder and anomaly folders, inside DASHBOARD_DATA_DIR only."""
    from dashboard.model_loading import ID_FOLDER, USER_MODEL
    from tests.test_folders import MODEL_FILE, write_class_folders

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my.py").write_text(MODEL_FILE)
    data = tmp_path / "data"
    write_class_folders(data / "pets", 40)
    (data / "empty").mkdir()
    (data / "noise").mkdir()
    rng = np.random.default_rng(3)
    from PIL import Image

    for k in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(data / "noise" / f"n{k}.png")
    monkeypatch.setenv("DASHBOARD_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(data))
    at = open_page("tune")
    at.selectbox(key="_model").set_value(USER_MODEL).run()
    at.text_input(key="user_spec").input("my.py:make").run()
    at.selectbox(key="user_id_dataset").set_value(ID_FOLDER).run()
    assert any("ID image folder" in info.value for info in at.info)  # asks for the folder
    assert "DASHBOARD_DATA_DIR" in at.text_input(key="user_id_folder").help
    for typed, message in (("missing", "image folder not found: missing"), ("empty", "no class sub-folders"),
                           ("../models", "'..' is not allowed"), (str(tmp_path / "models"), "outside the picture folder")):
        at.text_input(key="user_id_folder").input(typed).run()
        assert not at.exception and at.error and message in at.error[0].value, (typed, [e.value for e in at.error])
    at.text_input(key="user_id_folder").input("pets").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "per-class AUROC" in metrics(at)
    at.text_area(key="anomaly_folders").input("noise=noise\nbad line\nout=../models").run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "write NAME=FOLDER" in warnings and "'..' is not allowed" in warnings
    assert "noise" in at.selectbox(key="tune_set").options  # the folder is an anomaly set of every page
    monkeypatch.delenv("DASHBOARD_DATA_DIR")
    at.text_input(key="user_id_folder").input("pets2").run()
    assert at.error and "image folders are off" in at.error[0].value


@pytest.mark.parametrize("allowed", [False, True], ids=["no-folder", "another-folder"])
def test_a_typed_path_outside_the_model_folder_is_never_imported(tmp_path, monkeypatch, allowed):
    from dashboard.model_loading import USER_MODEL

    marker = tmp_path / "ran"
    path = tmp_path / "payload.py"
    path.write_text(f"open({str(marker)!r}, 'w').close()\n\ndef make():\n    pass\n")
    if allowed:
        (tmp_path / "models").mkdir()
        monkeypatch.setenv("DASHBOARD_MODEL_DIR", str(tmp_path / "models"))
    else:
        monkeypatch.delenv("DASHBOARD_MODEL_DIR", raising=False)
    at = open_page("tune")
    at.selectbox(key="_model").set_value(USER_MODEL).run()
    assert "DASHBOARD_MODEL_DIR" in at.text_input(key="user_spec").help
    at.text_input(key="user_spec").input(f"{path}:make").run()
    assert not at.exception and not marker.exists()
    assert at.error and ("outside the model folder" if allowed else "user models are off") in at.error[0].value


def test_tune_saves_the_tuned_detector():
    from detector.method.uniform import UniformDetector
    from detector.models.classifiers import load_model

    at = open_page("tune")
    at.slider(key="_beta").set_value(0.25).run()
    at.button(key="save_tuned").click().run()
    assert not problems(at), problems(at)
    message = at.success[0].value
    path = message.split("`")[1]
    detector = UniformDetector.load(path, load_model("lenet-mnist", progress=False))
    assert tuple(detector.beta) == (0.75, 0.25, 0.0)


def test_how_it_works_uses_the_beta_in_force_and_explains_the_test_tpr():
    """β set on Tune, all three terms, drives How it works (it once showed 0.50 × MDL + 0.50 × logit); step 4
    says the thresholds come from the validation split and gives the test split's TPR of its table."""
    at = open_page("how_it_works")
    before = at.dataframe[-1].value["tau"].iloc[0]  # the last table: step 4's per-class row
    at.session_state["beta_weight"], at.session_state["conf_weight"] = 0.5, 0.3  # what Tune keeps
    at.run()
    assert not problems(at), problems(at)
    text = " ".join(m.value for m in at.markdown)
    assert "g = 0.20 × MDL score + 0.50 × logit score + 0.30 × confidence score" in text
    table = at.dataframe[-1].value
    assert table["tau"].iloc[0] != before
    assert "validation split" in text and f"{table['ID TPR %'].iloc[0]:.1f} % of the test inputs" in text


def test_unavailable_anomaly_set_is_a_sidebar_warning():
    at = open_page("tune")
    sets = at.sidebar.multiselect[0]
    sets.set_value([*sets.value, "cifar10"]).run()  # no CIFAR-10 files here
    assert not at.exception, [e.value for e in at.exception]
    assert any("cifar10" in w.value for w in at.sidebar.warning)
    assert "per-class AUROC" in metrics(at)  # the other sets still work


def test_projection_chart_selection_and_hover_images():
    """Clicked rows come back by id; a box selects the rows inside it, in its own panel only."""
    import pandas as pd

    from dashboard import projection_charts, views

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 1.5], "y": [0.0, 1.0, 2.0, 1.5], "set": ["mnist (ID)"] * 2 + ["noise"] * 2,
                          "kind": ["id", "id", "noise", "noise"], "index": [0, 1, 0, 1], "true": [0, 1, -1, -1],
                          "predicted": [0, 1, 1, 0], "score": [0.9, 0.8, 0.1, 0.2], "mdl": [0.9, 0.8, 0.1, 0.2],
                          "logit": [0.9, 0.8, 0.1, 0.2], "conf": [1.0, 0.9, 0.2, 0.1], "tau": 0.5,
                          "margin": [0.4, 0.3, -0.4, -0.3], "verdict": ["normal"] * 2 + ["anomaly"] * 2},
                         index=[10, 11, 12, 13])
    box = {"x": [1.6, 0.5], "y": [0.5, 1.6]}  # corners in any order
    assert projection_charts.selected_rows({"pick": [{"row": 12}], "box": {}}, frame) == [12]
    assert sorted(projection_charts.selected_rows({"pick": [], "box": box}, frame)) == [11, 13]
    assert projection_charts.selected_rows({"box_0": box, "box_1": {}}, frame) == [13]  # class-0 panel: row 11 is class 1
    images = np.zeros((4, 1, 28, 28), dtype=np.float32)
    images[2, 0, 3, 4] = 1.0
    urls = views.image_urls(images)
    assert all(u.startswith("data:image/png;base64,") for u in urls)
    import base64

    from PIL import Image

    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(urls[2].split(",", 1)[1]))))
    assert decoded.shape == (28, 28) and decoded[3, 4] == 255 and decoded.sum() == 255
    spec = projection_charts.projection(frame.assign(image=urls), "set", ["0", "1"], "t", by_class=True).to_dict()
    assert {p["name"] for p in spec["params"]} == {"pick_0", "box_0", "pick_1", "box_1"}
    assert any(t["field"] == "image" for t in spec["concat"][0]["encoding"]["tooltip"])


def _chart_rows(chart):
    """The data a Vega-Lite chart of the page was sent (Streamlit moves it to Arrow datasets, one per panel)."""
    import pandas as pd
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return pd.concat([convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets], ignore_index=True)


def test_explore_selection_grid_is_drawn_from_every_selected_set():
    """Issue 28: a selection over several sets shows images of each (not the first 60 in set order)
    and says how many were selected in each set."""
    at = open_page("explore")
    mdl_key = list(at.session_state["_explore_seen"])[0]
    rows = _chart_rows(at.get("vega_lite_chart")[0])
    at.session_state[mdl_key] = {"selection": {"pick": [{"row": int(r)} for r in rows["row"]], "box": {}}}
    at.run()
    assert not problems(at), problems(at)
    shown = [image.caption for image in at.get("image")[0].proto.imgs]
    sets = list(dict.fromkeys(rows["set"]))
    assert len(rows) > 60 and len(shown) == 60 and len(sets) >= 2
    assert all(any(f" {name} #" in caption for caption in shown) for name in sets)
    caption = next(c.value for c in at.caption if " selected (" in c.value)
    assert all(f"{name}: {n}" in caption for name, n in rows["set"].value_counts().items()), caption


def test_explore_selection_survives_view_switches_is_linked_and_shows_verdicts():
    """A click in one chart (its selection state set as the browser would) selects inputs that
    both layers' charts highlight; switching to the per-class view keeps it; the grid gives verdicts."""
    at = open_page("explore")
    mdl_key, logit_key = list(at.session_state["_explore_seen"])
    at.session_state[mdl_key] = {"selection": {"pick": [{"row": 3}, {"row": 70}], "box": {}}}
    at.run()
    assert not problems(at), problems(at)
    assert at.session_state["explore_selection"]["rows"] == [3, 70]
    for chart in at.get("vega_lite_chart"):  # the logit chart too: linked
        rows = _chart_rows(chart)
        assert sorted(rows.loc[rows["selected"], "row"]) == [3, 70]
        assert "condition" in json.loads(chart.proto.spec)["encoding"]["opacity"]
    captions = at.get("image")[0].proto.imgs
    assert len(captions) == 2
    for image in captions:  # e.g. "✓ mnist (ID) #12: pred 7, g=0.81 ≥ τ=0.45"
        assert image.caption[0] in "✓✗" and " τ=" in image.caption
        assert (image.caption[0] == "✗") == (" < τ" in image.caption)
    assert {d.label for d in at.get("download_button")} == {"Images (.npz)", "Table (.csv)"}

    at.button_group(key="explore_view").set_value("Per predicted class (Figs 3, 5, 6)").run()
    assert not problems(at), problems(at)
    assert at.session_state["explore_selection"]["rows"] == [3, 70]  # kept across the view switch
    assert len(at.get("image")[0].proto.imgs) == 2
    assert all(sorted(_chart_rows(c).query("selected")["row"]) == [3, 70] for c in at.get("vega_lite_chart"))
    class_key = f"umap_class_{logit_key.removeprefix('umap_')}"
    at.session_state[class_key] = {"selection": {"pick_0": [{"row": 5}]}}  # a click in the other layer's grid
    at.run()
    assert at.session_state["explore_selection"]["rows"] == [5]
    drawn = {c.proto.id for c in at.get("vega_lite_chart")}
    at.button(key="explore_clear").click().run()
    assert not at.session_state["explore_selection"].get("rows") and not at.get("image")
    # new charts: a chart keeps drawing its own box after the page forgot the selection
    assert drawn.isdisjoint(c.proto.id for c in at.get("vega_lite_chart"))


def test_selection_downloads_in_the_formats_the_cli_reads(tmp_path):
    import pandas as pd

    from dashboard import views
    from detector.inputs.images import image_file_bytes, load_image_file

    images = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    path = tmp_path / "selection.npz"
    path.write_bytes(image_file_bytes(images))
    np.testing.assert_array_equal(load_image_file(path, (1, 28, 28)), images)  # what check --images reads
    with np.load(path) as data:
        assert list(data) == ["images"] and data["images"].dtype == np.float32
    meta = pd.DataFrame({"set": ["mnist (ID)", "noise"], "index": [4, 9], "true": [7, -1], "predicted": [7, 3],
                         "score": [0.8, -20.0], "tau": [0.4, 0.5], "margin": [0.4, -20.5], "verdict": ["normal", "anomaly"],
                         "mdl": [0.9, -40.0], "logit": [0.7, 0.0], "conf": [0.9, 0.1]})
    table = pd.read_csv(io.StringIO(views.selection_table(meta, [str(k) for k in range(10)]).to_csv(index=False)))
    assert list(table["verdict"]) == ["normal", "anomaly"] and list(table["predicted class"]) == [7, 3]
    assert list(table["g - tau"]) == [0.4, -20.5] and table["true class"].isna().tolist() == [False, True]


def test_server_launcher_warms_umap_once_before_streamlit_starts(monkeypatch):
    """python -m dashboard starts the JIT warm-up thread, then `streamlit run app.py`; a second
    request for the warm-up (app.py's, from the first session) gets the same thread."""
    import threading

    from streamlit.web import cli

    import dashboard.__main__ as launcher
    from detector.evaluation import projection

    release, started, preloads = threading.Event(), [], []
    monkeypatch.setattr(launcher, "_preload", lambda: preloads.append(1))
    monkeypatch.setattr(projection, "_warming", None)
    monkeypatch.setattr(projection, "warm_up", lambda: started.append(1) or release.wait(5))
    calls = []
    monkeypatch.setattr(cli, "main", lambda: calls.append((list(launcher.sys.argv), projection._warming)) or 0)
    monkeypatch.setattr(launcher.sys, "argv", ["dashboard"])
    with pytest.raises(SystemExit):
        launcher.main(["--server.port", "9999"])
    argv, thread = calls[0]
    # .streamlit/config.toml's settings as flags (they hold from any folder), the caller's after them (they win)
    from dashboard.app_files import config_flags

    assert argv == ["streamlit", "run", str(ROOT / "app.py"), *config_flags(ROOT), "--server.port", "9999"]
    assert {"--server.address=localhost", "--server.allowedHosts=localhost", "--server.maxUploadSize=20",
            "--client.showErrorDetails=none", "--browser.gatherUsageStats=false"} <= set(argv)
    assert thread is not None and thread.daemon  # running before streamlit was called
    assert projection.warm_up_in_background() is thread  # once per process
    release.set()
    thread.join(5)
    assert started == [1] and preloads == [1]  # the first view's preload thread too (dashboard/preload.py)


def test_server_launcher_imports_the_shared_libraries_before_any_thread_starts():
    """Two threads importing scikit-learn at once can each meet the other's half-initialised module:
    python -m dashboard imports it (and torch) before its warm-up and preload threads, and before Streamlit
    lets sessions in. Checked in a fresh interpreter, where nothing is imported yet."""
    script = """
import sys, threading
from streamlit.web import cli
import dashboard.__main__ as launcher
seen = []
threading.Thread.start = lambda self: seen.append((self.name, set(launcher.SHARED_LIBRARIES) - set(sys.modules)))
cli.main = lambda: seen.append(("streamlit", set(launcher.SHARED_LIBRARIES) - set(sys.modules))) or 0
assert not set(launcher.SHARED_LIBRARIES) <= set(sys.modules)  # the launcher itself imports none of them
try:
    launcher.main([])
except SystemExit:
    pass
print(seen)
assert [name for name, _ in seen] == ["umap-warm-up", "preload", "streamlit"] and all(not m for _, m in seen), seen
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


def test_umap_compiles_into_numba_disk_cache_and_numba_is_left_as_it_was():
    """UMAP's numba functions are declared cache=True while umap is imported (projection.import_umap):
    a new server reads them from disk instead of compiling them for 20-30 s; numba's own decorators
    are restored right after. (umap is imported only through import_umap in this project.)"""
    import numba
    from numba.core.caching import NullCache

    from detector.evaluation import projection

    decorators = numba.njit, numba.vectorize
    umap = projection.import_umap()
    assert (numba.njit, numba.vectorize) == decorators
    assert not isinstance(umap.umap_.compute_membership_strengths._cache, NullCache)
    assert projection.import_umap() is umap


def test_a_projection_asked_by_two_threads_at_once_is_fitted_once(monkeypatch):
    """The server's preload and a first session may ask for the same projection together."""
    import threading
    import time as clock
    import uuid

    from detector.evaluation import projection

    fits = []

    def slow_fit(features, *args):
        fits.append(1)
        clock.sleep(0.5)
        return np.zeros((len(features), 2), dtype=np.float32)

    monkeypatch.setattr(projection, "fit_umap", slow_fit)
    features, key = np.ones((30, 4), dtype=np.float32), {"test": uuid.uuid4().hex}
    results = []
    threads = [threading.Thread(target=lambda: results.append(projection.project(features, key, "layer"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(fits) == 1 and len(results) == 2 and results[0].shape == (30, 2)


def test_the_server_preload_is_what_a_new_session_shows_first_on_explore(monkeypatch):
    """python -m dashboard loads the first view in a server thread (dashboard/preload.py) through the
    pages' own cached loaders. After it, a new session's Explore loads and fits nothing (no model,
    detector, points or UMAP computed again), draws both projections, and its sidebar chose the same
    model, anomaly sets, layers and points as the preload: the preload never warms another model."""
    import streamlit as st

    from dashboard import loaders, preload, views
    from detector.evaluation import ours, projection
    from detector.method.features import LOGITS

    st.cache_data.clear()
    st.cache_resource.clear()
    calls = []
    for module, name in ((loaders, "load_experiment"), (loaders, "fit_uniform"), (views, "explore_points"),
                         (projection, "fit_umap"), (ours, "fit_uniform_knn")):
        monkeypatch.setattr(module, name, lambda *a, _f=getattr(module, name), _n=name, **k: calls.append(_n) or _f(*a, **k))
    steps = preload.preload()
    assert list(steps) == ["experiment", "detector", "anomaly sets", "points and features", "projections", "page imports",
                           "Inspect's detector"]
    assert {"load_experiment", "fit_uniform", "explore_points", "fit_uniform_knn"} <= set(calls)
    calls.clear()
    at = open_page("explore")
    assert not problems(at), problems(at)
    assert len(at.get("vega_lite_chart")) == 2
    assert calls == []  # all of it came from the preloaded caches and the projections on disk
    ctx = at.session_state["_context"]
    ids, layers, points = preload.first_view()
    assert ids.model == "lenet-mnist" and ids.anomalies == ("fashion-mnist", "gaussian")
    assert (ctx.ids, (ctx.detector.mdl_, LOGITS), ctx.points) == (ids, layers, points)
    at = open_page("inspect_input")  # Inspect's default detector came from the preload too
    assert not problems(at), problems(at)
    assert calls == []


def test_preload_can_be_switched_off(monkeypatch):
    from dashboard import preload

    monkeypatch.delenv(preload.ENV, raising=False)
    assert preload.enabled()
    monkeypatch.setenv(preload.ENV, "0")
    assert not preload.enabled()


def test_score_colours_centre_on_tau_and_stay_readable_beside_far_noise():
    """g - tau is coloured on a scale centred on 0 (= tau), clipped so that noise 60 below tau
    leaves ID inputs and near-OOD inputs in different colours; the tooltip carries the verdict."""
    import pandas as pd

    from dashboard import projection_charts

    rng = np.random.default_rng(0)
    margin = np.r_[rng.uniform(-0.1, 0.5, 100), rng.uniform(-2.0, -0.3, 50), rng.uniform(-62, -12, 50)]
    n = len(margin)
    frame = pd.DataFrame({"x": rng.random(n), "y": rng.random(n), "set": ["mnist (ID)"] * 100 + ["fashion"] * 50 + ["noise"] * 50,
                          "kind": ["id"] * 100 + ["ood"] * 50 + ["noise"] * 50, "index": np.arange(n), "true": 0,
                          "predicted": 0, "score": margin + 0.5, "tau": 0.5, "margin": margin,
                          "verdict": np.where(margin < 0, "anomaly", "normal"), "mdl": margin, "logit": margin,
                          "conf": margin, "image": ""})
    lo, hi = projection_charts.margin_domain(frame["margin"])
    assert 0.4 < hi <= 0.5 and lo == -4 * hi  # the noise does not stretch the scale
    assert (frame["margin"].iloc[100:150] > lo).mean() > 0.5  # most near-OOD inputs keep their own shades
    spec = projection_charts.projection(frame, "score", ["0"], "t").to_dict()
    scale = spec["encoding"]["color"]["scale"]
    # issue 28: pinned at tau, not a scheme spread over [lo, hi] (its midpoint fell near -0.7)
    assert scale["domain"] == [lo, 0.0, hi] and scale["clamp"] and scale["range"] == list(projection_charts.MARGIN_COLOURS)
    tooltip = {t.get("title", t["field"]) for t in spec["encoding"]["tooltip"]}
    assert {"verdict", "score g (1 = typical)", "its three scores"} <= tooltip and len(tooltip) <= 8
    data = pd.DataFrame(spec["datasets"][spec["data"]["name"]])
    assert data["in words"].iloc[-1].startswith("anomaly: ") and "below the threshold of class 0" in data["in words"].iloc[-1]
    assert data["scores"].iloc[0].startswith("MDL ") and " · logit " in data["scores"].iloc[0]
    names = [str(i) for i in range(10)]  # a 10-class legend lists every class and "anomaly"
    legend = projection_charts.projection(frame, "true class", names, "t").to_dict()["encoding"]["color"]
    assert legend["scale"]["domain"] == [*names, "anomaly"] and legend["legend"]["symbolLimit"] == 0
    assert legend["legend"]["columns"] == projection_charts.LEGEND_COLUMNS  # in rows: one row ran past the chart
    spec = projection_charts.projection(frame, "verdict", ["0"], "t").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == ["normal", "anomaly"]
    assert projection_charts.projection(frame, "set", ["0"], "t").to_dict()["encoding"]["shape"] == {"value": "circle"}


def test_inspect_upload_with_several_images_picks_one():
    from detector.data.loading import load_dataset

    digit = load_dataset("mnist", "test").images[:1]
    noise = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, np.concatenate([digit, noise]))
    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload("two.npy", buffer.getvalue()).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and not at.error  # the digit is normal
    at.number_input(key="inspect_upload_index").set_value(1).run()
    assert at.error and "Anomaly" in at.error[0].value  # the noise is not


def test_first_use_of_a_builtin_says_how_long_and_trains_with_progress(monkeypatch):
    """A built-in not yet trained: the estimate before training, and how long it took after."""
    from detector.models import classifiers as models
    from tests.test_hostile_input import SmallNet

    recipe = models.Recipe(SmallNet, "digits", (1, 28, 28), epochs=2, batch_size=128, lr=3e-3, schedule="one-cycle",
                           augment="none")
    monkeypatch.setitem(models.BUILTIN, "quick-digits", recipe)
    path = models.builtin_checkpoint_path("quick-digits")
    for stale in (path, path.with_name(path.name + ".sha256")):
        stale.unlink(missing_ok=True)
    at = open_page("tune")
    at.selectbox(key="_model").set_value("quick-digits").run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [i.value for i in at.info if i.value.startswith("First use of quick-digits")]
    assert len(notes) == 1 and "2,158 images over 2 epochs" in notes[0] and "Training took" in notes[0], notes
    assert models.builtin_is_trained("quick-digits") and "per-class AUROC" in metrics(at)
    at.run()  # trained now: no notice
    assert not [i.value for i in at.info if i.value.startswith("First use")]


def _damaged_builtin(tmp_path, monkeypatch, name):
    """``name`` (a model no other test loads: the server keeps what it loaded) as a built-in whose shipped
    weights file is damaged (its SHA-256 is not the manifest's); the real built-ins' files stay beside it."""
    import torch

    from detector.models import checkpoints, classifiers as models
    from tests.test_hostile_input import SmallNet

    recipe = models.Recipe(SmallNet, "digits", (1, 28, 28), epochs=2, batch_size=128, lr=3e-3, schedule="one-cycle",
                           augment="none")
    monkeypatch.setitem(models.BUILTIN, name, recipe)
    manifest = models.shipped_manifest()
    for entry in manifest.values():
        (tmp_path / entry["file"]).symlink_to(models.SHIPPED_DIR / entry["file"])
    torch.manual_seed(0)
    checkpoints.save_checkpoint(SmallNet(), tmp_path / f"{name}.pt")
    manifest[name] = {"file": f"{name}.pt", "sha256": "5" * 64, "weights_hash": "0" * 20}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(models, "SHIPPED_MANIFEST", tmp_path / "manifest.json")
    path = models.builtin_checkpoint_path(name)
    for stale in (path, path.with_name(path.name + ".sha256")):  # trained by another test
        stale.unlink(missing_ok=True)
    return models


def _plain(elements) -> list[str]:
    return [e.value.replace("\\", "") for e in elements]  # the page escapes Markdown in file names


def test_damaged_shipped_weights_with_training_forbidden_say_how_to_fix_and_never_train(tmp_path, monkeypatch):
    models = _damaged_builtin(tmp_path, monkeypatch, "forbidden-digits")
    monkeypatch.setenv("DASHBOARD_ALLOW_TRAINING", "0")
    monkeypatch.setattr(models, "train_builtin", lambda *a, **k: pytest.fail("trained though training is forbidden"))
    at = open_page("start")
    at.selectbox(key="_model").set_value("forbidden-digits").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = _plain(at.error)
    assert len(errors) == 1, errors
    for part in ("forbidden-digits.pt does not match its SHA-256", "expected 5555555555555555", "found ",
                 "DASHBOARD_ALLOW_TRAINING=0", "git checkout -- "):
        assert part in errors[0], (part, errors[0])
    assert any("shipped weights damaged" in c.value for c in at.sidebar.caption)
    assert not at.button


def test_damaged_shipped_weights_train_only_on_a_click_after_saying_why_and_how_long(tmp_path, monkeypatch):
    models = _damaged_builtin(tmp_path, monkeypatch, "clicked-digits")
    monkeypatch.delenv("DASHBOARD_ALLOW_TRAINING", raising=False)
    calls, train = [], models.train_builtin
    monkeypatch.setattr(models, "train_builtin", lambda *a, **k: calls.append(1) or train(*a, **k))
    at = open_page("start")
    at.selectbox(key="_model").set_value("clicked-digits").run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w for w in _plain(at.warning) if "clicked-digits" in w]
    assert calls == [] and len(warnings) == 1, warnings
    assert "clicked-digits.pt does not match its SHA-256" in warnings[0] and "First use of clicked-digits" in warnings[0]
    assert "git checkout -- " in warnings[0]
    button = at.button(key="_train_clicked-digits")
    assert "about" in button.label
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls == [1] and any("Training took" in i.value for i in at.info)
    at.run()  # trained now: neither the warning nor the button
    assert models.builtin_is_trained("clicked-digits") and "_train_clicked-digits" not in [b.key for b in at.button]
    assert not [w for w in _plain(at.warning) if "clicked-digits" in w]


def test_numba_disk_cache_leaves_other_libraries_functions_alone():
    """While UMAP is imported with cached numba functions another thread may import ART, whose
    jitclasses compile functions made from strings: numba cannot cache those (the CI failure)."""
    import numba

    from detector.evaluation.projection import _numba_disk_cache

    namespace = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)  # no source file, no module
    with _numba_disk_cache():
        bare = numba.njit(namespace["twice"])
        with_options = numba.njit(fastmath=True)(namespace["twice"])
    assert bare(3) == 6 and with_options(4) == 8


def test_a_new_model_hides_the_old_ones_stale_charts():
    """Issue 28: after switching model, the old model's charts stayed greyed for minutes while it loaded."""
    from dashboard.loaders import Ids

    at = open_page("start")
    hides = lambda: [h for h in at.get("html") if 'data-stale="true"' in h.proto.body]  # noqa: E731
    assert not hides()
    at.session_state["_shown_model"] = Ids("lenet-fashion-mnist", "", "fashion-mnist")  # the model shown last run
    at.run()
    assert not problems(at) and hides()
    assert 'stSidebar' in hides()[0].proto.body  # the old model's sets, MDL and accuracy too, not only the charts
    at.run()  # the same model again: Streamlit's usual fading, nothing hidden
    assert not hides()


@pytest.mark.slow  # fits ours+knn: the k-NN term, then k and beta on generated anomalies
def test_tune_shows_ours_knn_weights_and_benchmark_lists_it():
    """Issue 27: ours+knn's four weights on Tune (chosen on generated anomalies), and the method on Benchmark."""
    at = open_page("tune")
    at.button(key="knn_weights").click().run()
    assert not problems(at), problems(at)
    table = next(d.value for d in at.dataframe if "term" in d.value.columns)
    assert list(table["term"]) == ["MDL", "logit", "confidence", "kNN"]
    assert table["β"].sum() == pytest.approx(1) and table["β"].min() >= 0
    at.switch_page("pages/benchmark.py").run()
    assert "ours+knn" in at.multiselect(key="bench_methods").options


def _folder_pass_in_a_cached_loader():
    """A page whose cached loader makes a pass over an image folder (two of four batches)."""
    import streamlit as st

    from dashboard.progress import report_folder_pass, start_folder_bar

    start_folder_bar()

    @st.cache_resource
    def load(n):
        for done in (10, 20):
            report_folder_pass(done, 40, "features pets (train)")
        return n

    st.write(f"loaded {load(1)}")


def test_a_folder_pass_inside_a_cached_loader_draws_this_runs_bar_and_is_not_replayed():
    """The bar is drawn while the cached loader runs; on the next run the loader's result comes from the
    cache, and Streamlit's replay of what it drew must neither fail (the slot is this run's) nor redraw it."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_folder_pass_in_a_cached_loader).run()
    assert not app.exception
    bars = [element.proto for element in app.get("progress")]
    assert len(bars) == 1 and bars[0].value == 50 and bars[0].text.startswith("features pets (train): 20 / 40 pictures")
    app.run()
    assert not app.exception and not app.get("progress") and app.markdown[0].value == "loaded 1"


def test_a_model_switch_says_its_estimate_then_steps_and_uses_the_shipped_mdl(monkeypatch, tmp_path):
    """Switching to a model not yet loaded: the estimate is computed before the work, the MDL comes from the
    facts shipped beside the weights (no MDL choice here), the features pass reports progress, and the sidebar
    then shows the new model's MDL."""
    from dashboard import loaders
    from detector.evaluation import shipped
    from detector.evaluation.experiment import _detector_key, compute_accuracy, fit_uniform_here, load_experiment
    from detector.method import uniform
    from detector.models import classifiers as models
    from tests.test_hostile_input import SmallNet

    recipe = models.Recipe(SmallNet, "digits", (1, 28, 28), epochs=1, batch_size=128, lr=3e-3, schedule="one-cycle",
                           augment="none")
    monkeypatch.setitem(models.BUILTIN, "switch-digits", recipe)
    monkeypatch.setattr(shipped, "facts_path", lambda model: tmp_path / f"{model}{shipped.SUFFIX}")
    experiment = load_experiment("switch-digits")  # trained here (a second), as if shipped
    facts = shipped.compute_facts(experiment, lambda d: _detector_key(experiment, d),
                                  lambda: fit_uniform_here(experiment), compute_accuracy)
    shipped.write_facts("switch-digits", facts)
    from detector import cache  # as after install: the MDL's features not on disk yet (the facts' fit left them)

    for split in (experiment.train, experiment.val):
        for layer in (facts["mdl"]["layer"], "logits"):
            key = {"what": "features", "model": experiment.model.fingerprint, "data": cache.hash_array(split.images),
                   "layer": layer}
            cache.entry("features", key, code="detector.method.features").path.unlink()
    calls = []

    def spy(name):
        original = getattr(loaders, name)

        def wrapped(*args):
            calls.append(name)
            if name == "mdl_features":  # count the progress reports of the features pass
                ids, mdl, progress = args
                return original(ids, mdl, lambda *a: (calls.append("progress"), progress(*a)))
            return original(*args)
        monkeypatch.setattr(loaders, name, wrapped)

    for name in ("fit_estimate", "mdl_features", "detector"):
        spy(name)
    monkeypatch.setattr(uniform, "mix_set_errors", lambda *a, **k: pytest.fail("the MDL was chosen again"))
    at = open_page("start")
    calls.clear()
    at.selectbox(key="_model").set_value("switch-digits").run()
    assert not problems(at), problems(at)
    first = [c for c in calls if c != "progress"]
    assert first[:3] == ["fit_estimate", "mdl_features", "detector"], calls
    assert "progress" in calls
    toasts = [t.value for t in at.toast]
    assert any(t.startswith("switch-digits loaded in ") and "(estimated " in t for t in toasts), toasts
    assert at.selectbox(key="_layer:switch-digits").value == facts["mdl"]["layer"]
