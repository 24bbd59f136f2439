import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detector.method.metrics import auroc, global_metrics, per_class_metrics, per_class_thresholds, threshold_at_tpr


def test_auroc_matches_sklearn():
    rng = np.random.default_rng(0)
    id_scores, an_scores = rng.normal(1, 1, 300), rng.normal(0, 1, 200)
    expected = 100 * roc_auc_score(np.r_[np.ones(300), np.zeros(200)], np.r_[id_scores, an_scores])
    assert auroc(id_scores, an_scores) == pytest.approx(expected)
    # ties (rounded scores, and every anomaly equal to an ID score) count one half, as in scikit-learn
    id_scores, an_scores = np.round(id_scores), np.r_[np.round(an_scores), id_scores[:20].round()]
    expected = 100 * roc_auc_score(np.r_[np.ones(300), np.zeros(220)], np.r_[id_scores, an_scores])
    assert auroc(id_scores, an_scores) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        auroc([0.5, np.nan], [0.1])


def test_threshold_keeps_at_least_tpr_of_id():
    scores = np.arange(100.0)
    tau = threshold_at_tpr(scores, 0.95)
    assert np.mean(scores >= tau) >= 0.95 and np.mean(scores >= tau + 1) < 0.95


def test_global_tnr_counts_anomalies_below_the_95_tpr_threshold():
    id_scores = np.arange(100.0)  # tau = 5
    anomalies = np.array([0, 1, 2, 3, 4, 50, 60, 70])
    result = global_metrics(id_scores, anomalies)
    assert result.tnr_at_95_tpr == pytest.approx(100 * 5 / 8)


def test_per_class_weighting_by_class_share_and_left_out_classes():
    # class 0: perfectly separated; class 1: reversed; class 2: ID only (left out)
    id_scores = np.array([5, 6, 0, 1, 3.0])
    id_pred = np.array([0, 0, 1, 1, 2])
    an_scores = np.array([1, 2, 9, 9, 9, 9.0])
    an_pred = np.array([0, 0, 1, 1, 1, 1])
    result = per_class_metrics(id_scores, id_pred, an_scores, an_pred, thresholds=np.array([4, 0.5, 0]))
    # gamma_0 = 4/11, gamma_1 = 6/11 -> renormalised over 10/11
    assert result.auroc == pytest.approx((4 / 11 * 100 + 6 / 11 * 0) / (10 / 11))
    assert result.classes_left_out == 1
    assert result.tnr_at_95_tpr == pytest.approx(100 * 2 / 6)  # both class-0 anomalies < 4
    assert result.tpr == pytest.approx(100 * 4 / 5)  # 0 < 0.5 for class 1


def test_per_class_thresholds_fall_back_to_pooled_for_rare_classes():
    scores = np.r_[np.arange(20.0), [100.0]]
    classes = np.r_[np.zeros(20, int), [1]]
    tau = per_class_thresholds(scores, classes, 3, min_samples=10)
    assert tau[0] == threshold_at_tpr(scores[:20])
    assert tau[1] == tau[2] == threshold_at_tpr(scores)
