"""What the browser shows when a visitor or a file is hostile: one clear line, never a traceback or a
server path, and every name shown as it is (no Markdown), with Streamlit's AppTest on the default model."""

from __future__ import annotations

import io
import logging
import os
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_app import few_points, navigation_pages, open_page, warm_default_model  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def upload(name: str, data: bytes):
    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("upload").run()
    at.file_uploader(key="inspect_upload").upload(name, data).run()
    return at


def a_digit() -> np.ndarray:
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255
    return pixels


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_16_bit_png_upload_gets_a_verdict_and_is_shown():
    """st.image cannot write an I;16 picture as JPEG: the upload is shown as decoded."""
    picture = Image.fromarray(a_digit().astype(np.uint16) * 257)  # 16-bit grey
    assert picture.mode.startswith("I;16")
    at = upload("scan16.png", png(picture))
    assert not at.exception and not [e.value for e in at.error if not e.value.startswith("**Anomaly**")]
    assert "Prediction" in [m.label for m in at.metric]
    assert at.get("image")[0].captions[0] == "as drawn / uploaded"  # the picture beside the model input


def test_an_upper_case_npy_upload_is_read_as_an_array():
    buffer = io.BytesIO()
    np.save(buffer, a_digit().astype(np.float32) / 255)
    at = upload("DIGIT.NPY", buffer.getvalue())
    assert not at.exception and not [e.value for e in at.error if not e.value.startswith("**Anomaly**")]
    assert "Prediction" in [m.label for m in at.metric]


def test_an_upload_name_is_shown_literally_not_as_markdown():
    name = "![t](https://track.example/t.gif).png"
    at = upload(name, b"this is not a picture")
    [error] = at.error
    assert "Cannot use this file" in error.value
    assert "](" not in error.value.replace("\\](", "").replace("\\(", "")  # no link or image syntax left
    assert r"!\[t\](https\://track.example/t.gif).png" in error.value


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(folder))
    return folder


def anomaly_folder_warnings(at, text: str) -> list[str]:
    at.text_area(key="anomaly_folders").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return [w.value for w in at.sidebar.warning]


@pytest.mark.parametrize("case, message", [
    ("loop", "cannot be opened"),
    ("long", "cannot be opened"),
    ("nul", "not a usable folder name"),
])
def test_a_hostile_anomaly_folder_line_is_one_warning(data_dir, case, message):
    if case == "loop":
        (data_dir / "a").symlink_to(data_dir / "b")
        (data_dir / "b").symlink_to(data_dir / "a")
    folder = {"loop": "a", "long": "x" * 300, "nul": "bad\x00name"}[case]
    at = open_page("tune")
    warnings = anomaly_folder_warnings(at, f"odd={folder}")
    assert len(warnings) == 1 and message in warnings[0], warnings
    assert str(data_dir) not in warnings[0] or case == "nul"
    assert at.title and "per-class AUROC" in [m.label for m in at.metric]  # the page goes on


def test_a_broken_picture_with_a_non_utf8_name_is_named_not_a_blank_page(data_dir):
    folder = data_dir / "odd"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(a_digit()).save(folder / f"ok{k}.png")
    (folder / os.fsdecode(b"caf\xe9.png")).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    at = open_page("tune")
    warnings = anomaly_folder_warnings(at, "odd=odd")
    assert len(warnings) == 1 and "caf\\\\xe9.png" in warnings[0], warnings  # \xe9, its backslash escaped for Markdown
    assert at.title and "per-class AUROC" in [m.label for m in at.metric]


def test_an_unexpected_error_is_one_line_with_an_id_and_its_traceback_in_the_log(monkeypatch, caplog):
    from dashboard import loaders

    def fail(*_args, **_kwargs):
        raise OSError("[Errno 5] Input/output error: '/srv/private/cache/x.npz'")

    monkeypatch.setattr(loaders, "accuracy_check", fail)
    with caplog.at_level(logging.ERROR, logger="dashboard"):
        at = open_page("start")
    assert not at.exception
    [error] = at.error
    assert "/srv/private" not in error.value and "Traceback" not in error.value
    ident = re.search(r"id \*\*([0-9a-f]{8})\*\*", error.value).group(1)
    logged = [record for record in caplog.records if ident in record.getMessage()]
    assert logged and logged[0].exc_info and "/srv/private" in str(logged[0].exc_info[1])


def test_a_missing_model_file_says_so_without_the_servers_working_folder(tmp_path, monkeypatch):
    from dashboard.model_loading import USER_MODEL

    monkeypatch.setenv("DASHBOARD_MODEL_DIR", str(tmp_path))
    at = open_page("tune")
    at.selectbox(key="_model").set_value(USER_MODEL).run()
    at.selectbox(key="user_id_dataset").set_value("digits").run()
    at.text_input(key="user_spec").input("missing.py:make").run()
    [error] = at.error
    assert "model file not found" in error.value and "missing" in error.value
    assert str(Path.cwd()) not in error.value and "relative paths are read" not in error.value


def test_the_upload_limit_is_the_documented_one_in_the_server_and_the_widget():
    from detector.inputs.uploads import MAX_BYTES

    assert CONFIG["server"]["maxUploadSize"] * 2**20 == MAX_BYTES == 20 * 2**20
    at = open_page("inspect_input")
    at.radio(key="inspect_source").set_value("upload").run()
    assert at.file_uploader(key="inspect_upload").proto.max_upload_size_mb == 20


def test_the_browser_gets_no_error_details_and_foreign_hosts_are_refused_by_config():
    assert CONFIG["client"]["showErrorDetails"] == "none"
    assert CONFIG["server"]["address"] == "localhost"
    assert set(CONFIG["server"]["allowedHosts"]) == {"localhost", "127.0.0.1", "::1"}
    assert CONFIG["server"]["enableCORS"] and CONFIG["server"]["enableXsrfProtection"]


def test_literal_escapes_every_markdown_character():
    from dashboard.messages import literal

    assert literal("**bold** $x$ :red[r] <b> &lt; `c`") == r"\*\*bold\*\* \$x\$ :red\[r\] \<b\> \&lt; \`c\`"
    assert literal("- item") == r"\- item" and literal("1. item") == r"1\. item" and literal("www.x.example") == r"www\.x.example"
    assert literal(os.fsdecode(b"caf\xe9") + "\n") == r"caf\\xe9\\n"


def test_chart_names_are_text_not_plotly_markup():
    """Plotly reads <a href>, <b> and <br> in any text: a set or class named so is shown as typed."""
    import pandas as pd

    from dashboard import figures

    name = "<a href='https://track.example'>cats</a>"
    curve = pd.DataFrame({"FPR": [0.0, 1.0], "TPR": [0.0, 1.0]})
    figure = figures.roc({name: curve}, {name: (0.1, 0.9)})
    assert figure.data[1].name == "&lt;a href='https://track.example'&gt;cats&lt;/a&gt;"
    bars = figures.term_bars([0.5, 0.2], [0.1, 0.1], [name, "g"])
    assert "<a" not in str(list(bars.data[0].y))
