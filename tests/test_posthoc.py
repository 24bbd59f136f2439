"""pytorch-ood 0.4's post-hoc detectors as registered methods: what each is fitted on, where a
method cannot apply, and `evaluate` by name. The contract every method keeps is in test_baselines.py."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.special import softmax

from detector.baselines.posthoc_model import conv_layers
from detector.cli.main import main
from detector.evaluation.benchmark import fit_method, run_benchmark
from detector.evaluation.experiment import Experiment
from detector.evaluation.registry import METHODS, make_method
from detector.models.classifiers import prepare_classifier, weights_hash

ISSUE_27 = ("fdbd", "nnguide", "nci", "scale", "she", "klm", "rmds", "gram", "gradnorm", "vra", "entropy", "temperature")


def test_issue_27_names_are_registered():
    assert set(ISSUE_27) <= set(METHODS)


def test_entropy_is_the_negated_shannon_entropy(tiny_experiment):
    images = tiny_experiment.test.images[:40]
    p = softmax(tiny_experiment.extractor.logits(images).astype(np.float64), axis=1)
    expected = np.sum(p * np.log(p), axis=1)  # minus the entropy: higher = more normal
    np.testing.assert_allclose(fit_method(tiny_experiment, "entropy").score_samples(images), expected, rtol=1e-4, atol=1e-6)


def test_klm_and_temperature_are_fitted_on_the_validation_split(tiny_experiment):
    from pytorch_ood.detector import KLMatching, TemperatureScaling

    logits = torch.from_numpy(tiny_experiment.extractor.logits(tiny_experiment.val.images))
    labels = torch.from_numpy(tiny_experiment.val.labels)
    images = tiny_experiment.test.images[:40]
    test_logits = torch.from_numpy(tiny_experiment.extractor.logits(images))
    for name, library in (("klm", KLMatching(None)), ("temperature", TemperatureScaling(None))):
        expected = -library.fit_logits(logits, labels).predict_logits(test_logits).detach().double().numpy()
        np.testing.assert_allclose(fit_method(tiny_experiment, name).score_samples(images), expected, rtol=1e-5)


def test_fdbd_hand_computed(tiny_experiment):
    """Mean |logit gap| / ||w_pred - w_c|| over the other classes, over the distance to the training mean."""
    from detector.baselines import final_linear, penultimate

    images = tiny_experiment.test.images[:30]
    _, head = final_linear(tiny_experiment.model.module, tiny_experiment.model.input_shape)
    w, b = head.weight.detach().cpu().double().numpy(), head.bias.detach().cpu().double().numpy()
    z = penultimate(tiny_experiment, images).astype(np.float64)
    mean = penultimate(tiny_experiment, tiny_experiment.train.images).astype(np.float64).mean(0)
    logits = z @ w.T + b
    pred = logits.argmax(1)
    expected = []
    for row, c in zip(range(len(z)), pred):
        others = [k for k in range(10) if k != c]
        gaps = [abs(logits[row, c] - logits[row, k]) / np.linalg.norm(w[c] - w[k]) for k in others]
        expected.append(np.mean(gaps) / np.linalg.norm(z[row] - mean))
    np.testing.assert_allclose(fit_method(tiny_experiment, "fdbd").score_samples(images), expected, rtol=1e-3)


def test_gram_reads_the_conv_maps_and_mcd_leaves_the_shared_model_alone(tiny_experiment):
    assert list(conv_layers(tiny_experiment))  # TinyNet's conv blocks
    module = tiny_experiment.model.module
    fit_method(tiny_experiment, "mcd").score_samples(tiny_experiment.test.images[:20])
    assert not module.training and weights_hash(module) == tiny_experiment.model.weights_hash


class LinearThenScale(nn.Module):
    """Logits that do not come straight out of an nn.Linear, no conv layer, no dropout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return 2.0 * self.fc(x.flatten(1))


def test_a_method_that_cannot_apply_says_why(digits):
    model = prepare_classifier("scaled", LinearThenScale(), (1, 28, 28), "digits")
    experiment = Experiment(model, "digits", digits["train"], digits["val"], digits["test"])
    names = ["fdbd", "scale", "gram", "mcd", "entropy"]
    bench = run_benchmark(experiment, names, ["uniform"], echo=lambda _: None)
    notes = "\n".join(bench.notes)
    assert "fdbd: not applicable to this model (the model's logits are not the output of an nn.Linear" in notes
    assert "scale: not applicable" in notes
    assert "gram: not applicable to this model (Gram matrices need convolutional feature maps" in notes
    assert "mcd: not applicable to this model (Monte-Carlo dropout needs dropout layers" in notes
    assert {row.method for row in bench.rows} == {"entropy"}  # the logits serve it


def test_unknown_names_list_the_new_ones():
    with pytest.raises(ValueError, match="gradnorm"):
        make_method("gradnorms")


@pytest.mark.slow  # the built-in LeNet's training split through every new detector
def test_evaluate_runs_the_new_detectors_by_name(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path))
    main(["evaluate", "--model", "lenet-mnist", "--method", ",".join(ISSUE_27), "--anomaly", "uniform",
          "--test-limit", "200"])
    out = capsys.readouterr().out
    for name in ISSUE_27:
        assert f"\n{name} " in out, name
