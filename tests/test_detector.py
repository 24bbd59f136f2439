import copy

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from detector.errors import DataError, LayerError
from detector.method.features import FeatureExtractor
from detector.method.metrics import auroc
from detector.method.scores import LayerScores
from detector.method.uniform import UniformDetector


@pytest.fixture(scope="module")
def fitted(tiny_model, digits):
    return UniformDetector(tiny_model, candidates=["features.1", "features.4", "head.2"]).fit(
        digits["train"].images, digits["val"].images, val_labels=digits["val"].labels)


def test_auto_layer_is_the_one_with_fewest_mix_errors(fitted):
    assert set(fitted.layer_errors_) == {"features.1", "features.4", "head.2"}
    assert fitted.mdl_ == min(fitted.layer_errors_, key=fitted.layer_errors_.get)
    assert all(0 <= e <= 1 for e in fitted.layer_errors_.values())


def test_scores_are_higher_for_id_than_noise(fitted, digits, noise):
    id_scores = fitted.score_samples(digits["test"].images)
    assert auroc(id_scores, fitted.score_samples(noise)) > 95
    assert fitted.predict(noise).mean() > 0.9
    assert fitted.predict(digits["test"].images).mean() < 0.2


def test_thresholds_keep_95_percent_of_each_validation_class(fitted, digits):
    scores = fitted.score_samples(digits["val"].images)
    predicted = fitted.val_predicted_
    for i in range(10):
        if np.sum(predicted == i) >= fitted.min_samples:
            assert np.mean(scores[predicted == i] >= fitted.thresholds_[i]) >= 0.95
    assert np.all(fitted.decision_function(digits["val"].images) == scores - fitted.thresholds_[predicted])


def test_set_beta_recombines_without_refitting(tiny_model, digits):
    detector = UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images)
    svdds = detector.svdd_
    parts = detector.layer_scores(digits["test"].images)
    detector.set_beta((1.0, 0.0))
    assert detector.svdd_ is svdds
    np.testing.assert_allclose(detector.score_samples(digits["test"].images), parts.mdl)
    tau_mdl = detector.thresholds_.copy()
    detector.set_beta((0.0, 1.0))
    np.testing.assert_allclose(detector.score_samples(digits["test"].images), parts.logit)
    assert not np.allclose(tau_mdl, detector.thresholds_)


def test_set_nu_refits_the_svms(tiny_model, digits):
    detector = UniformDetector(tiny_model, layer="features.4", nu=0.1).fit(digits["train"].images, digits["val"].images)
    before = detector.svdd_["features.4"].class_models_[0].support_vectors_.shape[0]
    detector.set_nu(0.5)
    after = detector.svdd_["features.4"].class_models_[0].support_vectors_.shape[0]
    assert after > before and detector.mdl_ == "features.4"


def test_save_and_load_give_the_same_scores_and_refuse_another_model(fitted, tiny_model, digits, tmp_path):
    path = tmp_path / "detector.skops"
    fitted.save(path)
    loaded = UniformDetector.load(path, tiny_model)
    np.testing.assert_allclose(loaded.score_samples(digits["test"].images), fitted.score_samples(digits["test"].images))
    assert loaded.mdl_ == fitted.mdl_ and np.allclose(loaded.thresholds_, fitted.thresholds_)
    other = type(tiny_model)(**{**tiny_model.__dict__, "weights_hash": "0" * 20})
    with pytest.raises(ValueError, match="another model"):
        UniformDetector.load(path, other)
    recoded = type(tiny_model)(**{**tiny_model.__dict__, "fingerprint": "0" * 20})  # same weights, another forward
    with pytest.raises(ValueError, match="same weights but another computation"):
        UniformDetector.load(path, recoded)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot load detector"):
        UniformDetector.load(path, tiny_model)


def test_class_never_predicted_uses_the_pooled_svdd(tiny_model, digits):
    train = digits["train"].images
    predicted = FeatureExtractor(tiny_model).logits(train).argmax(1)  # on the model's device, CPU or GPU
    keep = predicted != 7  # the model never predicts 7 on these training inputs
    detector = UniformDetector(tiny_model, layer="features.4").fit(train[keep], digits["val"].images)
    assert detector.svdd_["features.4"].class_models_[7] is None
    sevens = digits["test"].images[digits["test"].labels == 7]
    assert np.all(np.isfinite(detector.score_samples(sevens)))


@pytest.mark.parametrize("params, error, message", [
    ({"nu": 0}, ValueError, r"'nu' parameter of UniformDetector must be a float in the range \(0.0, 1.0\]"),
    ({"nu": 1.5}, ValueError, r"'nu' parameter of UniformDetector must be a float in the range \(0.0, 1.0\]"),
    ({"beta": (-1, 1)}, ValueError, "non-negative"),
    ({"beta": (0, 0)}, ValueError, "not all zero"),
    ({"layer": "conv9"}, LayerError, "valid layers: features.0"),
])
def test_bad_parameters_are_rejected_in_fit(tiny_model, digits, params, error, message):
    with pytest.raises(error, match=message):
        UniformDetector(tiny_model, **params).fit(digits["train"].images, digits["val"].images)


def test_bad_inputs_are_rejected(fitted):
    with pytest.raises(DataError, match="expects"):
        fitted.score_samples(np.zeros((2, 3, 32, 32), np.float32))
    bad = np.zeros((2, 1, 28, 28), np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fitted.predict(bad)
    with pytest.raises(NotFittedError):
        UniformDetector(fitted.model).score_samples(np.zeros((1, 1, 28, 28), np.float32))


def test_judge_agrees_with_predict_and_takes_another_beta(fitted, digits, noise):
    from detector.method.verdicts import judge

    images = np.concatenate([digits["test"].images[:30], noise[:10]])
    verdicts = judge(fitted, images)
    assert [v.is_anomaly for v in verdicts] == list(fitted.predict(images))
    assert np.allclose([v.score for v in verdicts], fitted.score_samples(images))
    assert all(0 < v.probability <= 1 for v in verdicts)
    # another beta (as the dashboard judges): a copy with logits only and its own thresholds
    logits_only = fitted.with_beta((0.0, 1.0))
    other = judge(logits_only, images)
    assert [v.score for v in other] == [v.logit for v in verdicts]
    assert [v.is_anomaly for v in other] == [v.logit < logits_only.thresholds_[v.predicted] for v in verdicts]
    assert tuple(fitted.beta) == (0.5, 0.5)  # the original is unchanged


def test_explainer_finds_the_nearest_training_inputs_of_the_predicted_class(fitted, digits, noise):
    """Why this verdict (issue 28): neighbours match a brute-force search on the SVDD's standardised features."""
    from detector.method.features import LOGITS
    from detector.method.verdicts import Explainer

    train = digits["train"].images
    explainer = Explainer(fitted, n_neighbors=3).fit(train)
    images = np.concatenate([train[:2], digits["test"].images[:3], noise[:2]])
    explained = explainer.explain(images, class_names=[f"digit {i}" for i in range(10)])
    train_feats = fitted.features(train, cached=True)
    predicted = train_feats[LOGITS].argmax(1)
    feats = fitted.features(images)
    for row, why in enumerate(explained):
        assert why.verdict.predicted == feats[LOGITS][row].argmax()
        assert [near.layer for near in why.neighbours] == [fitted.mdl_, LOGITS]
        for near in why.neighbours:
            scaler = fitted.svdd_[near.layer].scaler_
            own = np.flatnonzero(predicted == why.verdict.predicted)
            dist = np.linalg.norm(scaler.transform(train_feats[near.layer][own])
                                  - scaler.transform(feats[near.layer][row:row + 1]), axis=1)
            assert np.allclose(near.distances, np.sort(dist)[:3], atol=1e-4)
            assert set(near.indices) <= set(own) and np.all(np.diff(near.distances) >= 0)
        # each term's own threshold: all the weight on that term
        assert np.allclose(why.term_taus, [fitted.thresholds_for(b)[why.verdict.predicted] for b in np.eye(3)])
        assert why.ink.shape == (2,) and why.ink_range.shape == (2, 2) and np.all(why.ink_range[:, 0] <= why.ink_range[:, 1])
    assert explained[0].neighbours[0].distances[0] == pytest.approx(0, abs=1e-4)  # a training input finds itself
    # noise lies far from every training digit: the notes say so, with the class's name
    assert any("farther than 99 %" in note and "digit " in note for note in explained[-1].notes)
    with pytest.raises(ValueError, match="n_neighbors"):
        Explainer(fitted, n_neighbors=0).fit(train)
    with pytest.raises(NotFittedError):
        Explainer(fitted).explain(images)


# ---------------------------------------------------------------- the confidence term (beta_3)
def test_beta_takes_two_or_three_weights():
    from detector.method.scores import check_beta

    assert check_beta((0.5, 0.5)) == (0.5, 0.5, 0.0)
    assert check_beta(["1", "0", "2"]) == (1.0, 0.0, 2.0)
    for bad in [(0, 0), (0, 0, 0), (-1, 2), (1,), (1, 2, 3, 4, 5), "ab", (np.nan, 1)]:  # four: ours+knn
        with pytest.raises(ValueError, match="beta must be"):
            check_beta(bad)


def test_beta3_zero_is_the_papers_detector_bit_for_bit(fitted, digits):
    scores = fitted.layer_scores(digits["test"].images)
    np.testing.assert_array_equal(scores.combine((0.5, 0.5, 0.0)), 0.5 * scores.mdl + 0.5 * scores.logit)
    np.testing.assert_array_equal(fitted.with_beta((0.5, 0.5, 0)).thresholds_, fitted.thresholds_)


def test_confidence_score_is_the_softmax_normalised_per_class(fitted, digits, noise):
    from scipy.special import softmax

    images = np.concatenate([digits["test"].images, noise])
    scores = fitted.layer_scores(images)
    msp = softmax(fitted.extractor.logits(images).astype(np.float64), 1).max(1)
    for i in np.unique(scores.predicted):
        rows = scores.predicted == i
        if rows.sum() > 2:  # an increasing affine map of the MSP within each predicted class
            slope, intercept = np.polyfit(msp[rows], scores.conf[rows], 1)
            assert slope > 0 and np.allclose(scores.conf[rows], slope * msp[rows] + intercept)
    assert fitted.val_scores_.conf.min() >= 0 and fitted.val_scores_.conf.max() <= 1
    only_conf = fitted.with_beta((0, 0, 1))
    np.testing.assert_array_equal(only_conf.score_samples(images), scores.conf)


def test_a_detector_saved_before_the_confidence_term_still_loads(fitted, tiny_model, digits, tmp_path):
    old = copy.copy(fitted)
    old.norm_min_, old.norm_max_ = fitted.norm_min_[:, :2], fitted.norm_max_[:, :2]
    old.val_scores_ = LayerScores(fitted.val_predicted_, fitted.val_scores_.mdl, fitted.val_scores_.logit)
    old.save(tmp_path / "old.skops")
    loaded = UniformDetector.load(tmp_path / "old.skops", tiny_model)
    np.testing.assert_array_equal(loaded.score_samples(digits["test"].images), fitted.score_samples(digits["test"].images))
    with pytest.raises(ValueError, match="without the confidence term"):
        loaded.with_beta((1, 1, 1))


def test_a_detector_fitted_on_another_reduction_of_its_layer_is_refused_on_load(fitted, tiny_model, digits, tmp_path):
    """A file from before a layer's reduction changed (a block's signed map keeps its spread since issue 26)
    holds SVDDs of another width: refused on load with a hint to refit, not a failure at the first score."""
    old = copy.copy(fitted)
    feats = FeatureExtractor(tiny_model).features(digits["train"].images, [fitted.mdl_, "logits"])
    width = feats[fitted.mdl_].shape[1]
    narrow = fitted._svdd().fit(feats[fitted.mdl_][:, :width // 2], feats["logits"].argmax(1), fitted.n_classes_)
    old.svdd_ = {**fitted.svdd_, fitted.mdl_: narrow}
    old.save(tmp_path / "old.skops")
    with pytest.raises(ValueError, match=rf"fitted on {width // 2} features of layer '{fitted.mdl_}'.*reduces that "
                                         rf"layer to {width} .*fit a new detector"):
        UniformDetector.load(tmp_path / "old.skops", tiny_model)


def test_choose_beta_weighs_every_kind_of_generated_anomaly():
    from detector.method.scores import choose_beta, simplex_grid

    rng = np.random.default_rng(0)
    predicted = rng.integers(0, 3, 300)
    val = LayerScores(predicted, rng.uniform(0, 1, 300), rng.uniform(0, 1, 300), rng.uniform(0, 1, 300))

    def kind(mdl, conf):  # anomalies that only the MDL term, or only the confidence term, tells apart
        return LayerScores(predicted[:100], mdl + rng.uniform(0, 1, 100), rng.uniform(0, 1, 100), conf + rng.uniform(0, 1, 100))

    far, near = kind(-1.0, 0.0), kind(0.0, -1.0)
    assert choose_beta(val, {"far": far})[0][0] >= 0.9  # the noise terms get (almost) nothing
    assert choose_beta(val, {"near": near})[0][2] >= 0.9
    beta, objective = choose_beta(val, {"far": far, "near": near}, steps=10)
    assert len(objective) == len(simplex_grid(10)) == 66
    assert beta[0] > 0 and beta[2] > 0 and beta[1] < 0.2  # both kinds count; the useless logit term does not


def test_boundary_blends_sit_just_across_the_decision_boundary():
    from detector.anomalies.noise import boundary_blends

    images = np.concatenate([np.zeros((20, 1, 4, 4)), np.ones((20, 1, 4, 4))]).astype(np.float32)
    predict = lambda x: (x.mean(axis=(1, 2, 3)) > 0.3).astype(int)  # noqa: E731 -- the boundary at mean 0.3
    blends = boundary_blends(images, predict, n=50, steps=12)
    assert len(blends) == 50
    means = blends.mean(axis=(1, 2, 3))
    assert np.all(np.abs(means - 0.3) < 2 ** -11)  # within the bisection's last step of the boundary
    assert 0 < predict(blends).mean() < 1  # from dark images across to bright, and back
    assert len(boundary_blends(np.zeros((5, 1, 4, 4), np.float32), predict)) == 0  # one class: no boundary to cross


def test_beta_from_generated_is_on_the_simplex_and_leaves_the_detector_alone(fitted, digits):
    beta, sizes = fitted.beta_from_generated(digits["val"].images, digits["val"].labels, steps=10)
    assert len(beta) == 3 and sum(beta) == pytest.approx(1) and min(beta) >= 0
    assert set(sizes) == {"pixel-shuffled", "blobs", "inverted", "tile-shuffled", "blends", "boundary blends"}
    assert fitted.check_beta(fitted.beta) == (0.5, 0.5, 0.0)


def test_set_params_only_stores_and_takes_effect_at_the_next_fit(fitted, digits, tmp_path):
    """scikit-learn's set_params: the fitted state keeps pairing with the choices made at fit (beta_, tpr_,
    confidence_) until the next fit; set_beta is the live change, at the fitted tpr_."""
    detector = copy.copy(fitted)
    images = digits["test"].images[:60]
    scores, thresholds = detector.score_samples(images), detector.thresholds_.copy()
    detector.set_params(beta=(0.2, 0.8), tpr=0.5, confidence="maxlogit")
    assert detector.get_params()["beta"] == (0.2, 0.8) and detector.tpr == 0.5
    assert detector.beta_ == (0.5, 0.5, 0.0) and detector.tpr_ == 0.95 and detector.confidence_ == "msp"
    np.testing.assert_array_equal(detector.score_samples(images), scores)  # not rescored against msp's ranges
    np.testing.assert_array_equal(detector.thresholds_, thresholds)
    # the live change: thresholds for the new weights at the fitted pass rate (not the tpr set since)
    np.testing.assert_array_equal(detector.set_beta((0.3, 0.7)).thresholds_, fitted.thresholds_for((0.3, 0.7)))
    assert detector.beta_ == detector.beta == (0.3, 0.7, 0.0)
    # saved as it scores: the fitted choices, not the values set since
    detector.save(tmp_path / "d.skops")
    loaded = UniformDetector.load(tmp_path / "d.skops", fitted.model)
    assert (loaded.tpr, loaded.confidence, loaded.beta) == (0.95, "msp", (0.3, 0.7, 0.0))
    np.testing.assert_array_equal(loaded.thresholds_, detector.thresholds_)
    # the next fit takes them
    detector.set_params(beta=(0.2, 0.8)).fit(digits["train"].images, digits["val"].images)
    assert (detector.beta_, detector.tpr_, detector.confidence_) == ((0.2, 0.8, 0.0), 0.5, "maxlogit")
    val = detector.score_samples(digits["val"].images)
    assert np.mean(val >= detector.thresholds_[detector.val_predicted_]) == pytest.approx(0.5, abs=0.1)
    unfitted = UniformDetector(fitted.model).set_params(beta=(1.0, 0.0), nu=0.2)
    assert unfitted.beta == (1.0, 0.0) and unfitted.nu == 0.2
    with pytest.raises(NotFittedError, match="not fitted yet"):
        unfitted.score_samples(np.zeros((1, 1, 28, 28), np.float32))


def test_the_mdl_is_the_layer_with_fewest_errors_and_a_tie_goes_to_the_better_separation():
    from detector.method.mdl import most_discriminative

    errors = {"features.2": 0.136, "features.3": 0.136, "features.4": 0.2}
    assert most_discriminative(errors, {"features.2": 0.90, "features.3": 0.93, "features.4": 0.99}) == "features.3"
    assert most_discriminative(errors, {"features.2": 0.95, "features.3": 0.93, "features.4": 0.99}) == "features.2"
    assert most_discriminative({"a": 0.3, "b": 0.1}, {"a": 1.0, "b": 0.5}) == "b"  # fewer errors beat separation
