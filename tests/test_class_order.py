"""An image folder's class order (issue 26): sorted sub-folder names unless a classes.txt or ``class_names``
gives the model's output order; a model that scores low on its own ID data is flagged, and a confusion
matrix that is a permutation of the classes gets the order that fits printed, with how to pass it."""

import pytest

from detector.data.id_folders import class_order, folder_splits
from detector.errors import DataError
from detector.evaluation.experiment import AccuracyCheck, check_accuracy, load_experiment
from tests.test_app import navigation_pages  # noqa: F401  (AppTest fixture)
from tests.test_folders import user_model, write_class_folders  # noqa: F401  (fixture)

# the user model predicts class k for pictures whose colour channel k is bright; write_class_folders
# brightens channel k for the k-th name given: in sorted order these names are ant, moth, zebra
MODEL_ORDER = ("zebra", "ant", "moth")


@pytest.fixture
def shuffled_folder(tmp_path):
    """A folder whose sorted sub-folder names are not the model's output order."""
    return write_class_folders(tmp_path / "animals", 60, classes=MODEL_ORDER)


def test_classes_txt_gives_the_order_and_class_names_override_it(shuffled_folder):
    assert class_order(shuffled_folder) is None
    assert folder_splits(shuffled_folder, (3, 12, 12))["train"].classes == sorted(MODEL_ORDER)
    (shuffled_folder / "classes.txt").write_text("zebra\n ant \n\nmoth\n")
    assert class_order(shuffled_folder) == list(MODEL_ORDER)
    splits = folder_splits(shuffled_folder, (3, 12, 12))
    assert splits["train"].classes == list(MODEL_ORDER)
    zebra = [i for i, path in enumerate(splits["train"].images.files) if path.parent.name == "zebra"]
    assert zebra and set(splits["train"].labels[zebra]) == {0}
    given = folder_splits(shuffled_folder, (3, 12, 12), class_names=["ant", "moth", "zebra"])["train"]
    assert given.classes == ["ant", "moth", "zebra"]


@pytest.mark.parametrize("names, message", [
    (["zebra", "ant", "ant", "moth"], "named twice: ant"),
    (["zebra", "ant", "moth", "cat"], "no such class sub-folder: cat"),
    (["zebra", "ant"], r"sub-folder\(s\) not named: moth"),
])
def test_a_wrong_class_list_says_what_is_wrong(shuffled_folder, names, message):
    with pytest.raises(DataError, match=message):
        class_order(shuffled_folder, names)
    (shuffled_folder / "classes.txt").write_text("\n".join(names))
    with pytest.raises(DataError, match=rf"classes.txt .*{message}.*sub-folders: ant, moth, zebra"):
        folder_splits(shuffled_folder, (3, 12, 12))


def test_a_permuted_model_gets_the_order_that_fits_and_reaches_its_accuracy_with_it(shuffled_folder, user_model):
    model, weights = user_model
    check = check_accuracy(load_experiment(model, weights, str(shuffled_folder)))
    assert check.accuracy < 0.3 and check.best_order == MODEL_ORDER and check.best_accuracy > 0.75
    warning = check.warning()
    assert check.title == "Class order" and "zebra, ant, moth" in warning
    assert str(shuffled_folder / "classes.txt") in warning and "--class-names zebra,ant,moth" in warning
    assert "--class-names" not in check.warning(dashboard=True)
    given = check_accuracy(load_experiment(model, weights, str(shuffled_folder), class_names=list(MODEL_ORDER)))
    (shuffled_folder / "classes.txt").write_text("\n".join(MODEL_ORDER))
    read = check_accuracy(load_experiment(model, weights, str(shuffled_folder)))
    for fixed in (given, read):
        assert fixed.accuracy == pytest.approx(check.best_accuracy) and fixed.best_order is None
        assert fixed.warning() is None


def test_class_names_apply_to_image_folders_only(user_model):
    model, weights = user_model
    with pytest.raises(DataError, match="digits is no image folder"):
        load_experiment(model, weights, "digits", class_names=["a", "b", "c"])


def test_low_accuracy_without_a_permutation_is_flagged_below_60_percent():
    assert AccuracyCheck(0.9, 10).warning() is None and AccuracyCheck(0.9, 10).title is None
    low = AccuracyCheck(0.45, 10, folder="pets")
    assert low.title == "Low accuracy" and "under 60 %" in low.warning() and "--class-names" in low.warning()
    assert "--class-names" not in low.warning(dashboard=True)
    chance = AccuracyCheck(0.12, 10)
    assert chance.title == "Near-chance model" and "is the model trained?" in chance.warning()
    assert "give its weights in the sidebar" in chance.warning(dashboard=True)


def test_the_command_line_prints_the_order_and_takes_it(shuffled_folder, user_model, capsys):
    from detector.cli.main import main

    model, weights = user_model
    picture = str(next(shuffled_folder.glob("zebra/*.png")))
    args = ["check", "--model", model, "--weights", weights, "--id-dataset", str(shuffled_folder), picture]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "WARNING: test accuracy" in err and "--class-names zebra,ant,moth" in err
    assert main([*args, "--class-names", "zebra,ant,moth"]) == 0
    assert "WARNING" not in capsys.readouterr().err


def test_every_dashboard_page_says_which_order_fits(shuffled_folder, user_model, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard.model_loading import ID_FOLDER, USER_MODEL
    from tests.test_app import APP, TIMEOUT

    model, weights = user_model
    monkeypatch.setenv("DASHBOARD_MODEL_DIR", str(shuffled_folder.parent))
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(shuffled_folder.parent))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    state = {"model": USER_MODEL, "user_spec": "my.py:make", "user_weights": "my.pt", "user_id_dataset": ID_FOLDER,
             "user_id_folder": shuffled_folder.name, "sets:my.py:make": []}  # no anomaly set: only the warning matters
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    for page in ("start", "layers", "inspect_input"):
        if page != "start":
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        errors = [e.value for e in at.error]
        assert any(e.startswith("**Class order**") and "zebra, ant, moth" in e and "classes.txt" in e
                   and "--class-names" not in e for e in errors), (page, errors)
