"""Issue 12, item 8: nobody in. The dashboard listens on localhost only, and a browser
session loads user models only from the folder chosen by whoever starts the server."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from dashboard.model_folder import (
    DATA_DIR_ENV,
    MODEL_DIR_ENV,
    dashboard_folder,
    dashboard_id_dataset,
    dashboard_model,
    dashboard_model_help,
)
from detector.errors import DataError, ModelError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "net.py").write_text("def make():\n    pass\n")
    (folder / "net.pt").write_bytes(b"")
    (tmp_path / "outside.py").write_text("def make():\n    pass\n")
    monkeypatch.setenv(MODEL_DIR_ENV, str(folder))
    return folder


def test_no_user_models_unless_the_server_names_a_folder(monkeypatch):
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    with pytest.raises(ModelError, match=f"user models are off in this dashboard.*{MODEL_DIR_ENV}="):
        dashboard_model("net.py:make", None)
    assert dashboard_model("lenet-mnist", None) == ("lenet-mnist", None)
    assert "User models are off" in dashboard_model_help()


def test_files_inside_the_folder_are_allowed(model_dir):
    resolved = model_dir.resolve()
    assert dashboard_model("net.py:make", "net.pt") == (f"{resolved / 'net.py'}:make", str(resolved / "net.pt"))
    assert dashboard_model(f"{model_dir}/net.py:make", None) == (f"{resolved / 'net.py'}:make", None)
    assert str(resolved) in dashboard_model_help()


@pytest.mark.parametrize("spec, weights, message", [
    ("../outside.py:make", None, r"'\.\.' is not allowed"),
    ("sub/../../outside.py:make", None, r"'\.\.' is not allowed"),
    ("{outside}:make", None, "is outside the model folder"),
    ("net.py:make", "{outside}", "is outside the model folder"),
    ("link.py:make", None, "is outside the model folder"),
])
def test_paths_out_of_the_folder_are_refused(model_dir, spec, weights, message):
    outside = model_dir.parent / "outside.py"
    (model_dir / "link.py").symlink_to(outside)  # a symbolic link out of the folder
    with pytest.raises(ModelError, match=message):
        dashboard_model(spec.format(outside=outside), weights and weights.format(outside=outside))


def test_a_link_out_below_the_model_folder_is_refused(model_dir):
    """Every path is resolved, links in the middle of it included."""
    (model_dir.parent / "elsewhere").mkdir()
    (model_dir.parent / "elsewhere" / "net.py").write_text("def make():\n    pass\n")
    (model_dir / "sub").symlink_to(model_dir.parent / "elsewhere")
    with pytest.raises(ModelError, match="is outside the model folder"):
        dashboard_model("sub/net.py:make", None)
    with pytest.raises(ModelError, match="is outside the model folder"):
        dashboard_model("net.py:make", "sub/net.py")


# ---------------------------------------------------------------- issue 23: links below DASHBOARD_DATA_DIR
@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """DASHBOARD_DATA_DIR holding pets/ (cat, dog) and, outside it, a folder of pictures it must not read."""
    from tests.test_folders import write_class_folders

    data = tmp_path / "data"
    write_class_folders(data / "pets", 3, classes=("cat", "dog"))
    write_class_folders(tmp_path / "private", 3, classes=("cat",))
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    return data


@pytest.mark.parametrize("link, target", [
    ("pets/cat", "private/cat"),  # a class folder (the readers follow it)
    ("pets/dog/secret.png", "private/cat/cat000.png"),  # a picture
    ("pets/dog/deeper/more", "private/cat"),  # a folder two levels down
], ids=["class-folder", "picture", "nested-folder"])
def test_a_nested_link_out_of_the_data_folder_is_refused(data_dir, link, target):
    """A top-level link out was refused, a class folder that is one was read."""
    from detector.data.id_folders import folder_splits

    path = data_dir / link
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(data_dir.parent / target)
    message = re.escape(f"pets: {link} is a symbolic link to {data_dir.parent / target}, outside the picture folder")
    with pytest.raises(DataError, match=message):
        dashboard_folder("pets")
    with pytest.raises(DataError, match=message):  # what loads an ID folder
        dashboard_id_dataset("pets")
    assert folder_splits(data_dir.parent / "private", (1, 12, 12))  # the command line is not limited


def test_links_that_stay_inside_the_data_folder_are_followed(data_dir):
    shutil.move(data_dir / "pets" / "cat", data_dir / "shared-cats")
    (data_dir / "pets" / "cat").symlink_to(data_dir / "shared-cats")
    (data_dir / "pets" / "dog" / "loop").symlink_to(data_dir / "pets")  # a loop ends
    assert dashboard_folder("pets") == str((data_dir / "pets").resolve())
    (data_dir / "shared-cats" / "out.png").symlink_to(data_dir.parent / "private" / "cat" / "cat000.png")
    with pytest.raises(DataError, match=r"shared-cats/out\.png is a symbolic link to .*outside the picture folder"):
        dashboard_folder("pets")  # checked through the link too


def test_streamlit_config_binds_to_localhost():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def test_the_server_started_as_run_sh_does_is_not_reachable_from_outside(tmp_path):
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no address but loopback")
    port = _free_port()
    log = open(tmp_path / "streamlit.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--browser.gatherUsageStats", "false",
                               "--server.fileWatcherType", "none"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while not _reachable("127.0.0.1", port):
            assert server.poll() is None and time.time() < deadline, (log.seek(0), log.read())[1]
            time.sleep(0.5)
        assert not _reachable(outward, port), f"the dashboard answers on {outward}:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
