"""What a shipped network always gives (its MDL choice, mix-set errors, test accuracy) is read from the
facts file beside its weights, and only when it was computed for the same weights, data and parameters."""

from __future__ import annotations

import json
import logging

import pytest

from detector.evaluation import shipped
from detector.evaluation.experiment import (
    _detector_key,
    check_accuracy,
    compute_accuracy,
    fit_uniform,
    fit_uniform_here,
    load_experiment,
)
from detector.method import uniform


@pytest.fixture
def facts_dir(tmp_path, monkeypatch):
    """Facts files read from a folder of the test's, and an empty detector cache (a cached detector
    would be loaded before any facts file is read)."""
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(shipped, "facts_path", lambda model: tmp_path / f"{model}{shipped.SUFFIX}")
    return tmp_path


def tiny_facts(experiment) -> dict:
    return shipped.compute_facts(experiment, lambda d: _detector_key(experiment, d),
                                 lambda: fit_uniform_here(experiment), compute_accuracy)


def no_mdl_choice(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the MDL was chosen here, not read from the facts file")

    monkeypatch.setattr(uniform, "mix_set_errors", refuse)


def test_the_shipped_mdl_choice_is_used_without_choosing_again(tiny_experiment, facts_dir, monkeypatch):
    facts = tiny_facts(tiny_experiment)
    chosen = facts["mdl"]["layer"]
    other = next(name for name in facts["mdl"]["errors"] if name != chosen)
    # a choice this run would not make: proof that the file, not a computation, gave it
    facts["mdl"]["layer"] = other
    facts["mdl"]["errors"][other] = 0.0
    shipped.write_facts(tiny_experiment.model.name, facts)
    no_mdl_choice(monkeypatch)
    detector = fit_uniform(tiny_experiment)
    assert detector.mdl_ == other and detector.layer == "auto"
    assert detector.layer_errors_ == facts["mdl"]["errors"]
    assert set(detector.svdd_) == {other, "logits"}


def test_a_shipped_choice_equals_the_one_computed_here(tiny_experiment, facts_dir):
    facts = tiny_facts(tiny_experiment)
    shipped.write_facts(tiny_experiment.model.name, facts)
    read = fit_uniform(tiny_experiment)
    here = fit_uniform_here(tiny_experiment)
    assert (read.mdl_, read.layer_errors_) == (here.mdl_, here.layer_errors_)
    images = tiny_experiment.test.images[:50]
    assert (read.score_samples(images) == here.score_samples(images)).all()


@pytest.mark.parametrize("part", ["model", "val", "params"])
def test_facts_made_for_other_weights_data_or_parameters_are_refused(tiny_experiment, facts_dir, caplog, part):
    facts = tiny_facts(tiny_experiment)
    key = facts["mdl"]["key"]
    if part == "params":
        key["params"]["nu"] = 0.2
    else:
        key[part] = "0" * 20
    facts["mdl"]["layer"] = "not-a-layer"
    shipped.write_facts(tiny_experiment.model.name, facts)
    with caplog.at_level(logging.WARNING, logger=shipped.__name__):
        detector = fit_uniform(tiny_experiment)
    assert detector.mdl_ != "not-a-layer" and len(detector.layer_errors_) > 1
    assert "choosing the MDL here" in caplog.text
    assert ("weights hash" in caplog.text) == (part == "model")


def test_the_shipped_accuracy_is_used_for_its_weights_and_test_split_only(tiny_experiment, facts_dir):
    facts = tiny_facts(tiny_experiment)
    facts["accuracy"]["check"]["accuracy"] = 0.5  # not what this run computes
    shipped.write_facts(tiny_experiment.model.name, facts)
    assert check_accuracy(tiny_experiment).accuracy == 0.5
    facts["accuracy"]["key"]["model"] = "0" * 20
    shipped.write_facts(tiny_experiment.model.name, facts)
    assert check_accuracy(tiny_experiment).accuracy == compute_accuracy(tiny_experiment).accuracy != 0.5


def test_a_damaged_facts_file_is_ignored(tiny_experiment, facts_dir, caplog):
    shipped.facts_path(tiny_experiment.model.name).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger=shipped.__name__):
        assert shipped.read_facts(tiny_experiment.model.name) is None
    assert "do not read" in caplog.text


def test_every_shipped_network_has_facts_made_for_its_weights():
    """A facts file left from other weights would be refused on every first use: the script must rerun."""
    from detector.models.classifiers import load_model, shipped_manifest

    for name, entry in shipped_manifest().items():
        facts = json.loads(shipped.facts_path(name).read_text())
        assert facts["mdl"]["key"]["model"] == load_model(name, progress=False).fingerprint, name
        assert facts["accuracy"]["key"]["model"] == entry["weights_hash"], name


def test_lenet_mnist_facts_match_a_fresh_mdl_choice():
    """The shipped file of the default model against the MDL choice made here from scratch."""
    experiment = load_experiment("lenet-mnist")
    here = fit_uniform_here(experiment)
    facts = shipped.read_facts("lenet-mnist")
    assert facts["mdl"]["key"] == _detector_key(experiment, here)
    assert (facts["mdl"]["layer"], facts["mdl"]["errors"]) == (here.mdl_, here.layer_errors_)
    assert facts["accuracy"]["check"]["accuracy"] == compute_accuracy(experiment).accuracy
