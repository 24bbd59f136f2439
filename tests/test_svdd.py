"""The SVDD score in torch against scikit-learn's own, and what scoring a user's inputs writes."""

import numpy as np
import pytest
import torch
from sklearn.svm import OneClassSVM

from detector import cache
from detector.method.features import LOGITS
from detector.method.svdd import ClassConditionalSVDD, fitted_gamma, log_score, rbf_gamma
from detector.method.uniform import UniformDetector
from detector.method.verdicts import judge


@pytest.fixture(scope="module")
def clusters():
    """Three classes of 6-d features, each a Gaussian blob: (X, classes) for fitting and for scoring."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 6))
    classes = np.repeat(np.arange(3), 150)
    X = (centres[classes] + rng.normal(0, 1, (len(classes), 6))).astype(np.float32)
    return X, classes


def sklearn_log_score(svdd, X, classes):
    """The reference: log of scikit-learn's OneClassSVM.score_samples (sum_i alpha_i K(x, sv_i)),
    on features standardised by scikit-learn's scaler in float64."""
    Z = svdd.scaler_.transform(X.astype(np.float64))
    out = np.empty(len(X))
    for i in np.unique(classes):
        model = svdd.class_models_[i] or svdd.pooled_model_
        out[classes == i] = np.log(model.score_samples(Z[classes == i]))
    return out


def test_torch_score_equals_the_log_of_scikit_learns(clusters):
    X, classes = clusters
    svdd = ClassConditionalSVDD(nu=0.1).fit(X, classes, n_classes=3)
    rng = np.random.default_rng(1)
    new = (X + rng.normal(0, 1.5, X.shape)).astype(np.float32)  # around the data: scikit-learn's value does not underflow
    reference = sklearn_log_score(svdd, new, classes)
    assert np.all(np.isfinite(reference)) and reference.min() < 0 < reference.max()  # both signs, so rtol is a real check
    np.testing.assert_allclose(svdd.score_samples(new, classes), reference, rtol=1e-5)
    # a tensor is scored where it lives, with the same result
    tensor_scores = svdd.score_samples(torch.from_numpy(new), classes)
    np.testing.assert_allclose(tensor_scores, reference, rtol=1e-5)
    # the module-level function (used by ELO) on standardised features
    Z = svdd.scaler_.transform(new[classes == 1].astype(np.float64))
    np.testing.assert_allclose(log_score(svdd.class_models_[1], Z), np.log(svdd.class_models_[1].score_samples(Z)),
                               rtol=1e-5)


def test_fitted_svms_hold_their_kernel_width_publicly_as_scikit_learn_resolves_it(clusters):
    X, classes = clusters
    svdd = ClassConditionalSVDD(nu=0.1, gamma="scale", max_samples_per_class=10_000).fit(X, classes, n_classes=3)
    Z = svdd.scaler_.transform(X[classes == 2])
    own = OneClassSVM(kernel="rbf", nu=0.1, gamma="scale").fit(Z)  # scikit-learn resolves "scale" itself
    model = svdd.class_models_[2]
    assert isinstance(model.gamma, float) and model.gamma == 1 / (Z.shape[1] * Z.astype(np.float64).var())
    np.testing.assert_array_equal(model.dual_coef_, own.dual_coef_)  # the same SVM, so the same numbers
    np.testing.assert_array_equal(model.score_samples(Z), own.score_samples(Z))  # so the same kernel width
    assert fitted_gamma(model) == model.gamma == svdd.gammas_[2]
    assert len(svdd.gammas_) == 4 and svdd.gammas_[-1] == fitted_gamma(svdd.pooled_model_)
    assert rbf_gamma(Z, "auto") == 1 / 6 and rbf_gamma(Z, 0.5) == 0.5
    for bad in ("wide", -1.0, 0):
        with pytest.raises(ValueError, match="'gamma' parameter of ClassConditionalSVDD must be"):
            ClassConditionalSVDD(gamma=bad).fit(X, classes, n_classes=3)
        with pytest.raises(ValueError, match="'gamma' parameter of rbf_gamma must be"):
            rbf_gamma(Z, bad)


def test_an_svm_that_does_not_hold_its_kernel_width_is_refused_when_loaded(clusters):
    """SVMs fitted before the width was resolved hold "scale"; its value is only in a private attribute, not read."""
    X, classes = clusters
    svdd = ClassConditionalSVDD(nu=0.1).fit(X, classes, n_classes=3)
    state = svdd.get_state()
    state["class_models"][1] = OneClassSVM(kernel="rbf", nu=0.1, gamma="scale").fit(svdd.scaler_.transform(X[classes == 1]))
    with pytest.raises(ValueError, match="gamma='scale', not its kernel width: .* fit \\(and save\\) the detector again"):
        ClassConditionalSVDD().set_state(state)


def test_far_inputs_keep_falling_where_scikit_learn_underflows(clusters):
    X, classes = clusters
    svdd = ClassConditionalSVDD(nu=0.1).fit(X, classes, n_classes=3)
    far = np.stack([X[0] + d for d in (50.0, 100.0, 200.0)]).astype(np.float32)
    zero = np.zeros(3, dtype=int)
    assert np.all(svdd.class_models_[0].score_samples(svdd.scaler_.transform(far)) == 0)  # why we work in logs
    scores = svdd.score_samples(far, zero)
    assert np.all(np.isfinite(scores)) and scores[0] > scores[1] > scores[2]


def test_refitted_svdd_does_not_reuse_the_old_support_vectors(clusters):
    X, classes = clusters
    svdd = ClassConditionalSVDD(nu=0.1).fit(X, classes, n_classes=3)
    first = svdd.score_samples(X, classes)
    svdd.set_params(nu=0.5).fit(X, classes, n_classes=3)
    np.testing.assert_allclose(svdd.score_samples(X, classes), sklearn_log_score(svdd, X, classes), rtol=1e-5)
    assert not np.allclose(svdd.score_samples(X, classes), first)


def test_fused_score_equals_the_class_by_class_loop(clusters):
    # a GPU scores all classes in one pass (fused); the CPU loops over them: same scores, including a
    # class with too few inputs for its own SVDD (the pooled one) and a class the SVDDs never saw
    X, classes = clusters
    few = np.r_[classes[classes != 2], np.full(5, 2)]
    svdd = ClassConditionalSVDD(nu=0.1, min_samples=10).fit(np.r_[X[classes != 2], X[classes == 2][:5]], few, n_classes=4)
    assert svdd.class_models_[2] is None and svdd.class_models_[3] is None
    rng = np.random.default_rng(2)
    new = torch.from_numpy((X + rng.normal(0, 1.5, X.shape)).astype(np.float32))
    asked = torch.from_numpy(np.r_[classes[:-10], np.full(5, 3), np.full(5, 7)])  # 7: beyond the fitted classes
    loop = svdd.score_tensor(new, asked, fused=False)
    fused = svdd.score_tensor(new, asked, fused=True)
    assert fused.dtype == torch.float64 and fused.device == new.device
    np.testing.assert_allclose(fused.numpy(), loop.numpy(), rtol=1e-10)
    pooled = sklearn_log_score(svdd, new.numpy(), np.full(len(new), 2))  # classes 2, 3 and 7 all use the pooled SVDD
    np.testing.assert_allclose(fused.numpy()[-10:], pooled[-10:], rtol=1e-5)
    # a refit replaces the stacked support vectors too
    svdd.set_params(nu=0.5).fit(X, classes, n_classes=3)
    np.testing.assert_allclose(svdd.score_tensor(new, classes, fused=True).numpy(),
                               sklearn_log_score(svdd, new.numpy(), classes), rtol=1e-5)


@pytest.fixture(scope="module")
def detector(tiny_model, digits):
    return UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images)


def test_new_inputs_are_neither_hashed_nor_cached(detector, digits, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))  # empty, whatever earlier runs left
    new = np.ascontiguousarray(digits["test"].images[:7] * 0.9)  # not a named set
    folder = tmp_path / "features"
    before = set()
    hashed = []
    original = cache.hash_array
    monkeypatch.setattr(cache, "hash_array", lambda array: hashed.append(array.shape) or original(array))
    scores = detector.score_samples(new)
    verdicts = judge(detector, new)
    detector.predict(new), detector.decision_function(new), detector.layer_scores(new)
    assert hashed == [] and (set(folder.glob("*")) if folder.exists() else set()) == before
    np.testing.assert_allclose([v.score for v in verdicts], scores)
    # a named set is still cached, and gives the same scores
    cached = detector.score_samples(new, cached=True)
    assert hashed and len(set(folder.glob("*")) - before) == 2  # the MDL and the logits
    np.testing.assert_array_equal(cached, scores)
    np.testing.assert_array_equal(detector.features(new)[LOGITS], detector.features(new, cached=True)[LOGITS])
