"""One contract for every registered method (scikit-learn's check_estimator idea), and
hand-computed cases. Uses the tiny digits CNN of conftest.py: seconds per method."""

import inspect

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from detector.baselines import NotApplicable, final_linear, penultimate
from detector.baselines.lid import lid_mle
from detector.baselines.msp import MSP
from detector.evaluation.evaluate import evaluate_method
from detector.evaluation.registry import ATTACK_TRAINED, METHODS, MethodName, fit_method, make_method
from detector.method.api import Method, MethodInfo


@pytest.fixture(scope="module")
def blank():
    """Obvious anomalies: flat grey images and uniform noise."""
    rng = np.random.default_rng(3)
    flat = np.full((40, 1, 28, 28), 0.5, np.float32)
    return np.concatenate([flat, rng.uniform(0, 1, (40, 1, 28, 28)).astype(np.float32)])


#: methods that draw dropout masks while scoring: an input's score depends on its place in the batch
MONTE_CARLO = ("kd-bu", "mcd")


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_keeps_the_protocol(name, tiny_experiment, blank, tmp_path):
    """scikit-learn's check_estimator idea over the registry: every method is the abstract base's, with
    its signatures and its typed info; clone keeps every option; the unfitted error; params untouched by
    fit; one finite score per input in the inputs' order; save and load where the method saves."""
    cls = METHODS[name]
    info = cls.info
    assert issubclass(cls, Method) and not inspect.isabstract(cls) and isinstance(info, MethodInfo)
    assert info.name == name and info.description and info.reference and isinstance(info.streams, bool)
    assert "\n" not in info.description and set(info.options) <= {"layer", "beta", "nu", "candidates"}
    assert set(info.options) <= set(cls._get_param_names())
    for verb in ("fit", "score_samples"):  # one signature for every method: the abstract base's
        ours, base = inspect.signature(getattr(cls, verb)), inspect.signature(getattr(Method, verb))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in base.parameters.values()], f"{name}.{verb}{ours}"
    for param in cls._get_param_names():  # the constructor stores every option as given, and clone keeps it
        assert clone(cls(**{param: f"<{param}>"})).get_params()[param] == f"<{param}>", param
    method = cls()
    params = method.get_params()
    twin = clone(method)
    assert type(twin) is cls and twin.get_params() == params
    with pytest.raises(NotFittedError):
        method.score_samples(blank[:2])
    assert method.fit(tiny_experiment) is method
    assert method.get_params() == params  # learned state lives in attributes ending in _
    test = tiny_experiment.test.images[:120]
    scores = method.score_samples(test, cached=True)
    assert scores.shape == (len(test),) and np.all(np.isfinite(scores))
    noise_scores = method.score_samples(blank)
    assert noise_scores.shape == (len(blank),) and np.all(np.isfinite(noise_scores))
    # higher = more normal: ID inputs rank above obvious noise on average
    assert np.median(scores) > np.median(noise_scores), name
    # warm: the second call comes from the disk cache and is identical
    np.testing.assert_array_equal(method.score_samples(test, cached=True), scores)
    # the order of the inputs: reversed inputs, reversed scores; new inputs (not cached) score alike
    reversed_scores = method.score_samples(test[::-1].copy())[::-1]
    if name in MONTE_CARLO:
        assert spearmanr(reversed_scores, scores).statistic > 0.5  # unrelated orders: about 0
    else:
        np.testing.assert_allclose(reversed_scores, scores, rtol=1e-4, atol=1e-5 * np.abs(scores).max())
    if hasattr(cls, "save"):
        method.save(tmp_path / "method.skops")
        loaded = cls.load(tmp_path / "method.skops", tiny_experiment)
        assert type(loaded) is cls
        np.testing.assert_allclose(loaded.score_samples(test), method.score_samples(test), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ATTACK_TRAINED)
def test_known_is_the_attack_option_which_clone_keeps(name):
    """``NAME+known`` is the method with ``attack=`` the evaluated attack, a constructor parameter."""
    method = make_method(f"{name}+known", attack="cw")
    assert type(method) is METHODS[name] and clone(method).get_params()["attack"] == "cw"


def test_one_parser_for_the_names_and_suffixes():
    assert MethodName.parse("lid+known+oe") == MethodName("lid", known=True, oe=True)
    assert MethodName.parse("ours+knn+oe").cls is METHODS["ours+knn"]
    for bad in ("msp+known", "ours+oe+known", "nope"):
        with pytest.raises(ValueError, match="valid methods"):
            make_method(bad)


def test_evaluate_method_accepts_a_baseline(tiny_experiment, blank):
    from detector.anomalies import AnomalySet

    rows = evaluate_method(tiny_experiment, "msp", fit_method(tiny_experiment, "msp"), [AnomalySet("blank", "noise", blank)])
    assert [row.weighting for row in rows] == ["per-class", "global"]
    assert all(0 <= row.auroc <= 100 for row in rows)


def test_msp_hand_computed():
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0], [10.0, 10.0]])
    np.testing.assert_allclose(MSP.score(logits), [0.5, 0.75, 0.5])


def test_lid_hand_computed():
    # distances 1, 2, 4 to the reference points, k = 3:
    # LID = -1 / mean(log(1/4), log(2/4), log(4/4)) = 3 / log(8)
    reference = np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    value = lid_mle(np.zeros((1, 2)), reference, k=3)
    np.testing.assert_allclose(value, [3 / np.log(8)])


def test_posthoc_sign_is_flipped_once(tiny_experiment):
    """Our energy score is pytorch-ood's energy negated: logsumexp of the logits."""
    from scipy.special import logsumexp

    images = tiny_experiment.test.images[:30]
    scores = fit_method(tiny_experiment, "energy").score_samples(images)
    logits = tiny_experiment.extractor.logits(images)
    np.testing.assert_allclose(scores, logsumexp(logits.astype(np.float64), axis=1), rtol=1e-5)


def test_penultimate_is_the_input_of_the_final_linear(tiny_experiment):
    model = tiny_experiment.model
    name, head = final_linear(model.module, model.input_shape)
    images = tiny_experiment.test.images[:10]
    z = penultimate(tiny_experiment, images)
    with torch.no_grad():
        logits = head(torch.from_numpy(z).to(head.weight.device)).cpu().numpy()  # the head may live on a GPU
    np.testing.assert_allclose(logits, tiny_experiment.extractor.logits(images), rtol=1e-4, atol=1e-4)


def test_not_applicable_without_final_linear():
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU())
    with pytest.raises(NotApplicable):
        final_linear(module, (1, 2, 2))


def test_unfitted_and_unknown():
    with pytest.raises(NotFittedError):
        make_method("msp").score_samples(np.zeros((1, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="valid"):
        make_method("nope")
    with pytest.raises(ValueError, match="valid"):
        make_method("msp+known")  # msp is trained on no attack


def test_wrong_image_shape_is_refused(tiny_experiment):
    with pytest.raises(ValueError, match="shape"):
        fit_method(tiny_experiment, "msp").score_samples(np.zeros((2, 3, 28, 28), np.float32))
