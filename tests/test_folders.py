"""A folder of pictures as an anomaly set (``--anomaly-file NAME=FOLDER``)."""

import numpy as np
import pytest
from PIL import Image

from detector.data import folders
from detector.data.folders import load_image_folder
from detector.errors import DataError
from detector.evaluation.benchmark import run_benchmark


@pytest.fixture
def picture_folder(tmp_path):
    """Six pictures of several sizes and modes, one in a sub-folder, and a file that is no picture."""
    rng = np.random.default_rng(0)
    (tmp_path / "more").mkdir()
    for k, (size, mode) in enumerate([((40, 40), "RGB"), ((28, 28), "L"), ((64, 48), "RGBA"), ((30, 30), "P"),
                                      ((100, 100), "RGB"), ((28, 28), "L")]):
        channels = {"RGB": 3, "RGBA": 4, "L": 1, "P": 1}[mode]
        pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
        picture = Image.fromarray(pixels, "RGBA" if mode == "RGBA" else ("RGB" if channels == 3 else "L"))
        picture = picture.convert("P") if mode == "P" else picture
        picture.save(tmp_path / ("more" if k == 5 else "") / f"p{k}.{'jpg' if k == 4 else 'png'}")
    (tmp_path / "notes.txt").write_text("not a picture")
    return tmp_path


@pytest.mark.parametrize("workers", [0, 2])
def test_every_picture_in_the_model_input_shape(picture_folder, workers):
    images = load_image_folder(picture_folder, (1, 28, 28), workers=workers)
    assert images.shape == (6, 1, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.1  # random pixels, not blank
    # p1.png, a 28x28 grey picture, is kept pixel for pixel (sorted paths: more/p5.png, p0.png, p1.png, ...)
    original = np.asarray(Image.open(picture_folder / "p1.png"), dtype=np.float32) / 255
    np.testing.assert_allclose(images[2, 0], original, atol=1e-6)
    assert load_image_folder(picture_folder, (3, 32, 32), workers=workers).shape == (6, 3, 32, 32)


def test_bad_folders_say_what_is_wrong(picture_folder, tmp_path_factory, monkeypatch):
    with pytest.raises(DataError, match="image folder not found"):
        load_image_folder(picture_folder / "nope", (1, 28, 28))
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataError, match="no PNG or JPEG"):
        load_image_folder(empty, (1, 28, 28))
    (picture_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for workers in (0, 2):  # the file is named, also when a worker process read it
        with pytest.raises(DataError, match=r"broken\.png: not a readable picture"):
            load_image_folder(picture_folder, (1, 28, 28), workers=workers)
    monkeypatch.setattr(folders, "MAX_VALUES", 28 * 28 * 3)
    with pytest.raises(DataError, match="split the folder"):
        load_image_folder(picture_folder, (1, 28, 28))


def test_a_folder_is_an_anomaly_set_of_the_benchmark(tiny_experiment, picture_folder):
    bench = run_benchmark(tiny_experiment, ["msp"], [], anomaly_files=[("pictures", str(picture_folder))],
                          echo=lambda _: None)
    assert {(row.anomaly, row.kind) for row in bench.rows} == {("pictures", "file")}
    assert all(0 <= row.auroc <= 100 for row in bench.rows)


# ---------------------------------------------------------------- an ID dataset as an image folder
from detector.cli.main import main  # noqa: E402
from detector.data.folders import FolderImages  # noqa: E402
from detector.data.id_folders import folder_splits  # noqa: E402
from detector.data.loading import load_dataset  # noqa: E402
from detector.evaluation.experiment import load_experiment  # noqa: E402
from detector.method import features as features_module  # noqa: E402
from detector.method.features import FeatureExtractor  # noqa: E402

CLASSES = ("cat", "dog", "owl")
MODEL_FILE = '''
import torch, torch.nn as nn

def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 3))
'''


def write_class_folders(root, per_class, size=12, seed=0, classes=CLASSES):
    """``per_class`` PNGs per class: noise on one colour channel per class, some grey, of two sizes."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            side = size if k % 3 else size + 4  # resized to the model's input
            pixels = rng.integers(0, 80, (side, side, 3), dtype=np.uint8)
            pixels[..., label % 3] += 170
            picture = Image.fromarray(pixels)
            (picture.convert("L") if k % 5 == 4 else picture).save(root / name / f"{name}{k:03d}.png")
    return root


@pytest.fixture
def id_folder(tmp_path):
    return write_class_folders(tmp_path / "pets", 20)


@pytest.fixture
def user_model(tmp_path):
    """A small user model (my.py:make) and its weights, trained a few steps on the folder's colours."""
    import importlib.util

    import torch

    (tmp_path / "my.py").write_text(MODEL_FILE)
    spec = importlib.util.spec_from_file_location("my_test_model", tmp_path / "my.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.make()
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 256)
    images = rng.uniform(0, 0.3, (256, 3, 12, 12)).astype(np.float32)
    images[np.arange(256), labels] += 0.65
    optimiser = torch.optim.Adam(net.parameters(), 0.01)
    for _ in range(60):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(images)), torch.from_numpy(labels)).backward()
        optimiser.step()
    torch.save(net.state_dict(), tmp_path / "my.pt")
    return f"{tmp_path / 'my.py'}:make", str(tmp_path / "my.pt")


def test_one_folder_is_split_seeded_and_stratified(id_folder):
    splits = folder_splits(id_folder, (3, 12, 12))
    assert {s: len(d) for s, d in splits.items()} == {"train": 48, "val": 6, "test": 6}  # 80 / 10 / 10
    for data in splits.values():
        assert data.classes == list(CLASSES) and np.bincount(data.labels).tolist() == [len(data) // 3] * 3
    train, test = splits["train"].images, splits["test"].images
    assert isinstance(train, FolderImages) and isinstance(test, FolderImages)  # on disk: read batch by batch
    assert isinstance(splits["val"].images, np.ndarray) and splits["val"].images.shape == (6, 3, 12, 12)
    again = folder_splits(id_folder, (3, 12, 12))
    assert again["train"].images.files == train.files and again["train"].images.content_hash() == train.content_hash()
    assert not set(train.files) & set(test.files)
    # the labels follow the class folders; slices and rows read just those pictures
    assert all(path.parent.name == CLASSES[label] for path, label in zip(train.files, splits["train"].labels))
    whole = np.asarray(train)
    assert whole.shape == (48, 3, 12, 12) and whole.dtype == np.float32
    np.testing.assert_array_equal(train[5:9], whole[5:9])
    np.testing.assert_array_equal(train[[7, 2]], whole[[7, 2]])
    np.testing.assert_array_equal(train[3], whole[3])
    np.testing.assert_array_equal(np.concatenate(list(train.batches(10))), whole)
    # grey pictures become RGB (a picture of class "owl" is blue)
    assert whole[splits["train"].labels == 2][:, 2].mean() > whole[splits["train"].labels == 2][:, 0].mean() + 0.3
    assert load_dataset(str(id_folder), "test").images.files == test.files  # the Python API, by folder name


def test_train_val_test_folders_inside(tmp_path):
    root = tmp_path / "split"
    write_class_folders(root / "train", 12)
    write_class_folders(root / "val", 4, seed=1)
    write_class_folders(root / "test", 5, seed=2, classes=CLASSES[1:])  # a split may lack a class
    splits = folder_splits(root, (1, 8, 8))
    assert {s: len(d) for s, d in splits.items()} == {"train": 36, "val": 12, "test": 10}
    assert set(splits["test"].labels) == {1, 2} and splits["test"].classes == list(CLASSES)
    assert all(path.parts[-3] == "test" for path in splits["test"].images.files)
    assert splits["val"].images.shape == (12, 1, 8, 8)
    import shutil

    shutil.rmtree(root / "val")  # without val/, the validation split is taken from train/
    splits = folder_splits(root, (1, 8, 8))
    assert (len(splits["train"]), len(splits["val"])) == (32, 4)
    assert all(path.parts[-3] == "train" for path in splits["train"].images.files)


def test_bad_id_folders_say_what_is_wrong(tmp_path, id_folder):
    shape = (3, 12, 12)
    with pytest.raises(DataError, match="image folder not found"):
        folder_splits(tmp_path / "nope", shape)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        folder_splits(tmp_path / "empty", shape)
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.new("RGB", (12, 12)).save(loose / "a.png")
    with pytest.raises(DataError, match="no class sub-folders"):
        folder_splits(loose, shape)
    (loose / "cat").mkdir()
    with pytest.raises(DataError, match="no PNG or JPEG files in its class folders"):
        folder_splits(loose, shape)
    (id_folder / "emu").mkdir()
    with pytest.raises(DataError, match="class folder.s. emu hold no PNG"):
        folder_splits(id_folder, shape)
    (id_folder / "emu").rmdir()
    few = write_class_folders(tmp_path / "few", 2)
    with pytest.raises(DataError, match="too few to split"):
        folder_splits(few, shape)
    split = tmp_path / "split"
    write_class_folders(split / "train", 10)
    write_class_folders(split / "test", 2, classes=("cat", "yak"))
    with pytest.raises(DataError, match="yak are not in train/"):
        folder_splits(split, shape)
    # an unreadable picture is named when a pass reaches it
    train = folder_splits(id_folder, shape)["train"].images
    train.files[3].write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=rf"{train.files[3].name}: not a readable picture"):
        list(train.batches(8))


def test_a_folders_features_are_cached_by_its_files(id_folder, tiny_model, monkeypatch):
    """Named folder splits keep their disk feature cache, keyed by paths, sizes and times, not pixels."""
    images = folder_splits(id_folder, (1, 28, 28))["train"].images
    extractor = FeatureExtractor(tiny_model)
    first = extractor.features(images, ["logits"])["logits"]
    calls = []
    monkeypatch.setattr(features_module, "extract", lambda *a, **k: calls.append(a) or {"logits": first})
    np.testing.assert_array_equal(FeatureExtractor(tiny_model).features(images, ["logits"])["logits"], first)
    assert not calls
    import os

    os.utime(images.files[0], ns=(0, 0))  # a file changed: the key changes
    FeatureExtractor(tiny_model).features(FolderImages(images.files, images.image_shape), ["logits"])
    assert len(calls) == 1


def test_evaluate_a_user_model_on_an_id_folder_end_to_end(tmp_path, user_model, capsys, monkeypatch):
    """``python -m detector evaluate --model my.py:make --weights my.pt --id-dataset FOLDER --anomaly-file
    other=FOLDER``: the big splits are never read into memory whole, and every pass has a progress bar."""
    model, weights = user_model
    id_folder = write_class_folders(tmp_path / "pets", 40)  # 12 validation pictures: at least min_samples
    other = tmp_path / "other"
    other.mkdir()
    rng = np.random.default_rng(3)
    for k in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(other / f"noise{k}.png")

    def refuse(self, dtype=None, copy=None):
        raise AssertionError(f"{self.name} was read into memory whole")

    monkeypatch.setattr(FolderImages, "__array__", refuse)
    assert main(["evaluate", "--model", model, "--weights", weights, "--id-dataset", str(id_folder),
                 "--anomaly-file", f"other={other}", "--anomaly", "uniform", "--method", "ours,msp"]) == 0
    out, err = capsys.readouterr()
    assert f"ID {id_folder} (train 96, val 12, test 12)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("ours ", "msp "))]
    assert {(row[0], row[1], row[3]) for row in rows} >= {("ours", "other", "per-class"), ("msp", "uniform", "global")}
    assert all(0 <= float(row[5]) <= 100 for row in rows)
    for what in (f"features {id_folder} (train)", f"features {id_folder} (test)", f"reading {id_folder} (val)",
                 "reading other"):
        assert what in err and "img/s" in err  # tqdm's rate (and ETA) for each pass
    # the Python API: the same experiment, class names from the sub-folders
    experiment = load_experiment(model, weights, id_dataset=str(id_folder))
    assert experiment.class_names == list(CLASSES) and experiment.test_accuracy > 0.6


def test_an_id_folder_must_match_the_models_classes(tmp_path, user_model, capsys):
    model, weights = user_model
    folder = write_class_folders(tmp_path / "four", 10, classes=("a", "b", "c", "d"))
    assert main(["evaluate", "--model", model, "--weights", weights, "--id-dataset", str(folder),
                 "--anomaly", "uniform"]) == 2
    assert "4 class folders, but the model has 3 outputs" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", "--model", model, "--id-dataset", str(empty), "--anomaly", "uniform"]) == 2
    assert "no class sub-folders" in capsys.readouterr().err


def test_every_pass_over_a_folder_reports_its_progress(id_folder, user_model, capsys):
    """The dashboard's bar: a callback given with the folder gets (done, total, what) after each batch of
    every pass, and no tqdm bar is drawn; without one, nothing is reported."""
    calls = []
    images = folder_splits(id_folder, (3, 12, 12), progress=lambda *call: calls.append(call))["train"].images
    assert calls == [(6, 6, f"reading {id_folder} (val)")]  # the validation split is read when listed
    calls.clear()
    list(images.batches(20, "features"))
    assert calls == [(20, 48, f"features {id_folder} (train)"), (40, 48, f"features {id_folder} (train)"),
                     (48, 48, f"features {id_folder} (train)")]
    list(images.subset(np.arange(10)).batches(20))  # a subset reports to the same callback
    assert calls[-1] == (10, 10, f"reading {id_folder} (train)") and "img/s" not in capsys.readouterr().err
    list(folder_splits(id_folder, (3, 12, 12))["train"].images.batches(20))
    assert len(calls) == 4
    # through the Python API: every split of the experiment and its extractor's passes
    calls.clear()
    experiment = load_experiment(*user_model, id_dataset=str(id_folder), progress=lambda *call: calls.append(call))
    experiment.predictions(experiment.test.images)
    assert calls and calls[-1][0] == calls[-1][1] == len(experiment.test) and "(test)" in calls[-1][2]


def test_baselines_score_a_folder_split_streamed_or_read_whole(tiny_experiment, picture_folder, monkeypatch):
    """MSP streams a folder's split; Feature Squeezing works on pixels and gets it in memory."""
    from detector.data.datasets import Dataset
    from detector.evaluation.experiment import Experiment

    files = folders.picture_files(picture_folder)
    test = Dataset("pictures", "test", FolderImages(files, (1, 28, 28)), np.zeros(len(files), np.int64))
    experiment = Experiment(tiny_experiment.model, "digits", tiny_experiment.train, tiny_experiment.val, test)
    read = []
    monkeypatch.setattr(FolderImages, "__array__", lambda self, dtype=None, copy=None: read.append(1) or self.read())
    bench = run_benchmark(experiment, ["msp"], ["uniform"], echo=lambda _: None)
    assert {row.method for row in bench.rows} == {"msp"} and not read
    bench = run_benchmark(experiment, ["fs"], ["uniform"], echo=lambda _: None)
    assert {row.method for row in bench.rows} == {"fs"} and read and not bench.notes
