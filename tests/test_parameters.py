"""Parameter validation in one place (issue 24): each estimator's ``_parameter_constraints`` (scikit-learn's
convention) covers exactly its ``__init__`` parameters, and fit refuses a bad value of any of them, naming
it, before any feature is extracted or SVM fitted."""

import inspect

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from detector.errors import LayerError
from detector.method import svdd as svdd_module
from detector.method.features import FeatureExtractor
from detector.method.neighbours import UniformKNNDetector
from detector.method.svdd import ClassConditionalSVDD
from detector.method.uniform import UniformDetector

ESTIMATORS = [UniformDetector, UniformKNNDetector, ClassConditionalSVDD]


class ExpensiveWork(Exception):
    """Raised where fit would start working: validation must have refused the parameters before."""


@pytest.fixture
def no_expensive_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise ExpensiveWork("fit went past parameter validation")

    monkeypatch.setattr(UniformDetector, "_check_input", refuse)
    monkeypatch.setattr(FeatureExtractor, "features", refuse)
    monkeypatch.setattr(FeatureExtractor, "device_features", refuse)
    monkeypatch.setattr(svdd_module, "StandardScaler", refuse)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_the_constraints_name_exactly_the_init_parameters(cls):
    init = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    assert set(cls._parameter_constraints) == set(init) == set(cls._get_param_names())
    assert all(isinstance(constraints, list) and constraints for constraints in cls._parameter_constraints.values())


def test_subclass_and_svdd_share_the_constraints():
    knn, uniform = UniformKNNDetector._parameter_constraints, UniformDetector._parameter_constraints
    assert {name: knn[name] for name in uniform} == uniform and set(knn) - set(uniform) == {"k"}
    for name in ("nu", "gamma", "max_samples_per_class", "min_samples"):  # passed on to the SVDD: the same objects
        assert uniform[name] is ClassConditionalSVDD._parameter_constraints[name]


@pytest.mark.parametrize("params, error, message", [
    ({"nu": 0}, InvalidParameterError, r"'nu' parameter .* \(0.0, 1.0\]"),
    ({"nu": 1.5}, InvalidParameterError, r"'nu' parameter .* \(0.0, 1.0\]"),
    ({"nu": "0.1"}, InvalidParameterError, r"'nu' parameter"),
    ({"tpr": 1}, InvalidParameterError, r"'tpr' parameter .* \(0.0, 1.0\)"),
    ({"tpr": 0.0}, InvalidParameterError, r"'tpr' parameter"),
    ({"beta": (0, 0)}, ValueError, "beta must be non-negative numbers, not all zero"),
    ({"beta": (1,)}, ValueError, "beta must be two to four numbers"),
    ({"beta": (1, -1)}, ValueError, "beta must be non-negative"),
    ({"beta": (0.2,) * 5}, ValueError, "beta must be two to four numbers"),
    ({"beta": 0.5}, InvalidParameterError, "'beta' parameter .* array-like"),
    ({"beta": (0.25, 0.25, 0.25, 0.25)}, ValueError, "beta has a fourth .*UniformDetector has no k-NN term"),
    ({"gamma": "nope"}, InvalidParameterError, "'gamma' parameter .*'scale'"),
    ({"gamma": -1.0}, InvalidParameterError, r"'gamma' parameter .* \(0.0, inf\)"),
    ({"confidence": "softmax"}, InvalidParameterError, "'confidence' parameter .*'msp'"),
    ({"candidates": "some"}, InvalidParameterError, "'candidates' parameter .*'blocks'"),
    ({"candidates": ["features.4", "conv9"]}, LayerError, "candidates: unknown layer 'conv9'; valid layers: features.0"),
    ({"candidates": ["features.4", "logits"]}, ValueError, "candidates=.*: the MDL must be a layer other than the logits"),
    ({"candidates": ["features.4", 3]}, ValueError, "candidates must be layer names"),
    ({"layer": "conv9"}, LayerError, "unknown layer 'conv9'; valid layers: features.0"),
    ({"layer": "logits"}, ValueError, "layer='logits': the MDL must be a layer other than the logits"),
    ({"layer": None}, InvalidParameterError, "'layer' parameter"),
    ({"max_samples_per_class": 0}, InvalidParameterError, r"'max_samples_per_class' parameter .* \[1, inf\) or None"),
    ({"min_samples": 0}, InvalidParameterError, r"'min_samples' parameter .* \[1, inf\)"),
    ({"min_samples": 2.5}, InvalidParameterError, "'min_samples' parameter"),
    ({"random_state": -1}, InvalidParameterError, "'random_state' parameter"),
    ({"random_state": None}, InvalidParameterError, "'random_state' parameter"),
    ({"model": "lenet-mnist"}, InvalidParameterError, "'model' parameter .*ClassifierInfo"),
], ids=lambda value: repr(value) if isinstance(value, dict) else None)
def test_fit_refuses_each_bad_parameter_by_name_before_any_work(tiny_model, params, error, message, no_expensive_work):
    images = np.zeros((20, 1, 28, 28), np.float32)
    with pytest.raises(error, match=message):
        UniformDetector(**{"model": tiny_model, **params}).fit(images, images)
    assert issubclass(error, (ValueError, LayerError))  # InvalidParameterError is a ValueError (and a TypeError)


@pytest.mark.parametrize("params, message", [
    ({"k": 0}, r"'k' parameter of UniformKNNDetector must be an int in the range \[1, inf\)"),
    ({"k": 2.5}, "'k' parameter"),
    ({"nu": 0}, "'nu' parameter of UniformKNNDetector"),
    ({"beta": (0, 0, 0, 0)}, "not all zero"),
    ({"beta": (0.2,) * 5}, "beta must be two to four numbers"),
])
def test_the_knn_detector_adds_k_to_its_parents_checks(tiny_model, params, message, no_expensive_work):
    images = np.zeros((20, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=message):
        UniformKNNDetector(tiny_model, **params).fit(images, images)


@pytest.mark.parametrize("params, message", [
    ({"nu": 0}, r"'nu' parameter of ClassConditionalSVDD must be a float in the range \(0.0, 1.0\]"),
    ({"nu": 1.0001}, r"'nu' parameter of ClassConditionalSVDD must be a float in the range \(0.0, 1.0\]"),
    ({"gamma": "nope"}, "'gamma' parameter of ClassConditionalSVDD"),
    ({"gamma": 0}, "'gamma' parameter"),
    ({"max_samples_per_class": 0}, "'max_samples_per_class' parameter"),
    ({"min_samples": 0}, "'min_samples' parameter"),
    ({"random_state": "seed"}, "'random_state' parameter"),
])
def test_the_svdd_refuses_each_bad_parameter_by_name_before_fitting(params, message, no_expensive_work):
    X, classes = np.zeros((30, 4)), np.repeat(np.arange(3), 10)
    with pytest.raises(InvalidParameterError, match=message):
        ClassConditionalSVDD(**params).fit(X, classes, n_classes=3)


def test_valid_edge_values_pass_validation(tiny_model):
    for params in [{"nu": 1}, {"nu": np.float32(1e-3), "tpr": 0.999}, {"beta": (0.5, 0.5, 0.0, 0.0)}, {"beta": [1, 0]},
                   {"beta": np.array([0.2, 0.3, 0.5])}, {"gamma": "auto"}, {"gamma": 1e-3}, {"candidates": "all"},
                   {"candidates": ("features.1", "head.2")}, {"max_samples_per_class": None}, {"min_samples": 1},
                   {"random_state": np.int64(3)}, {"confidence": "maxlogit"}, {"layer": "features.4"}]:
        UniformDetector(tiny_model, **params)._validate_params()
    for params in [{"beta": (0.1, 0.2, 0.3, 0.4)}, {"k": 1}, {"k": np.int64(50)}]:
        UniformKNNDetector(tiny_model, **params)._validate_params()
    ClassConditionalSVDD(nu=1.0, gamma=0.5, max_samples_per_class=None, min_samples=1,
                         random_state=np.random.default_rng(0))._validate_params()
    # the public checks take the same constraints
    assert UniformDetector.check_nu(0.999) == 0.999 and isinstance(UniformDetector.check_nu(np.float32(0.5)), float)
    assert UniformDetector.check_beta((0.5, 0.5)) == (0.5, 0.5, 0.0)
    assert UniformKNNDetector.check_beta((0.1, 0.2, 0.3, 0.4)) == (0.1, 0.2, 0.3, 0.4)
    assert UniformDetector.check_nu(1) == 1.0
    for bad in (0, -0.1, 1.5, float("nan"), None):
        with pytest.raises(InvalidParameterError, match="'nu' parameter of UniformDetector"):
            UniformDetector.check_nu(bad)
    with pytest.raises(ValueError, match="no k-NN term"):
        UniformDetector.check_beta((0.25, 0.25, 0.25, 0.25))


def test_nu_one_is_fitted_at_its_limit():
    """nu = 1 is valid ((0, 1], the paper's range), but libsvm's own fit fails on it: the SVDD fits its limit."""
    from sklearn.svm import OneClassSVM

    from detector.method.svdd import NU_FIT_MAX

    X, classes = np.random.default_rng(0).normal(size=(60, 4)), np.repeat(np.arange(3), 20)
    with pytest.raises(ValueError, match="not finite"):
        OneClassSVM(nu=1.0).fit(X)
    at_one = ClassConditionalSVDD(nu=1, gamma=0.5).fit(X, classes, n_classes=3).score_samples(X, classes)
    at_limit = ClassConditionalSVDD(nu=NU_FIT_MAX, gamma=0.5).fit(X, classes, n_classes=3).score_samples(X, classes)
    assert np.all(np.isfinite(at_one)) and np.array_equal(at_one, at_limit)


def test_nu_one_and_four_weights_fit(tiny_model, digits):
    """The edges of the valid ranges, through a whole fit: nu = 1, and four weights."""
    detector = UniformKNNDetector(tiny_model, layer="features.4", nu=1, beta=(0.1, 0.2, 0.3, 0.4), k=5).fit(
        digits["train"].images, digits["val"].images)
    assert detector.beta == (0.1, 0.2, 0.3, 0.4) and detector.nu == 1
    assert np.all(np.isfinite(detector.score_samples(digits["test"].images[:20])))
    gammas = detector.svdd_["features.4"].gammas_
    assert all(isinstance(gamma, float) and gamma > 0 for gamma in gammas if gamma is not None)


@pytest.fixture(scope="module")
def fitted(tiny_model, digits):
    return UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images)


def test_a_refused_beta_or_nu_changes_nothing(fitted, tiny_model, tmp_path):
    import copy

    detector = copy.copy(fitted)
    beta, thresholds = detector.beta, detector.thresholds_.copy()
    for bad in [(0.25, 0.25, 0.25, 0.25), (0, 0), None]:
        with pytest.raises(ValueError, match="beta"):
            detector.set_beta(bad)
        assert detector.beta == beta and detector.beta_ == detector.check_beta(beta)
        np.testing.assert_array_equal(detector.thresholds_, thresholds)
    with pytest.raises(InvalidParameterError, match="'nu' parameter"):
        detector.set_nu(0)
    assert detector.nu == 0.1
    # a loaded detector has no training features to refit its SVDDs on: refused, and it says why
    fitted.save(tmp_path / "detector.skops")
    loaded = UniformDetector.load(tmp_path / "detector.skops", tiny_model)
    with pytest.raises(NotFittedError, match="nu=0.2: a detector loaded from a file keeps no training features"):
        loaded.set_nu(0.2)
    assert loaded.nu == 0.1 and loaded.set_beta((0.0, 1.0)).beta == (0.0, 1.0, 0.0)  # beta needs no refit


def test_an_svdd_saved_without_its_kernel_width_is_refused_on_load():
    """An SVM fitted before gamma was resolved publicly holds "scale": loading it says to refit, not a wrong score."""
    X, classes = np.random.default_rng(0).normal(size=(60, 4)), np.repeat(np.arange(3), 20)
    state = ClassConditionalSVDD(gamma=0.5).fit(X, classes, n_classes=3).get_state()
    assert ClassConditionalSVDD().set_state(state).gammas_[0] == 0.5
    state["pooled"].gamma = "scale"
    with pytest.raises(ValueError, match="earlier version of the detector"):
        ClassConditionalSVDD().set_state(state)
