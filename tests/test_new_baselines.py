"""The rest of the paper's Table 1: Feature Squeezing, G-ODIN and NNIF, checked on their maths.

The registry contract (fit, score, direction, cache) is in test_baselines.py; here each
method is checked on something that would break if its formula were wrong."""

import numpy as np
import torch
import torch.nn as nn

from detector.baselines import final_linear
from detector.baselines.feature_squeezing import FeatureSqueezing, squeezers
from detector.baselines.godin import EPSILONS, DeConfHead, choose_epsilon, godin_scores, with_deconf_head
from detector.baselines.nnif import neighbour_ranks, nnif_features, tracin_influence
from detector.evaluation.experiment import Experiment
from detector.evaluation.registry import ATTACK_TRAINED, METHODS, make_method
from detector.method.metrics import auroc
from detector.runtime import model_device


def test_registered():
    assert {"fs", "godin", "nnif"} <= set(METHODS)
    assert "nnif" in ATTACK_TRAINED
    assert make_method("nnif+known", attack="cw").attack == "cw"


# --------------------------------------------------------------------------- Feature Squeezing
def test_fs_score_hand_computed():
    probs = np.array([[0.9, 0.1], [0.5, 0.5]])
    same, moved = probs.copy(), np.array([[0.6, 0.4], [0.0, 1.0]])
    np.testing.assert_allclose(FeatureSqueezing.score(probs, [same, moved]), [-0.6, -1.0])
    np.testing.assert_array_equal(FeatureSqueezing.score(probs, [same]), [0.0, 0.0])


def test_fs_squeezers_follow_xu_et_al():
    grey, colour = squeezers(1), squeezers(3)
    assert list(grey) == ["bit-depth-1", "median-2x2"] and list(colour) == ["bit-depth-5", "median-2x2"]
    x = np.array([0.2, 0.49, 0.51, 0.9], np.float32).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(grey["bit-depth-1"](x)[0].ravel(), [0, 0, 1, 1])
    np.testing.assert_allclose(colour["bit-depth-5"](x)[0].ravel(), np.rint(x.ravel() * 31) / 31)
    # the median filter works on each channel of (N, C, H, W) arrays, not across channels
    image = np.zeros((1, 3, 6, 6), np.float32)
    image[0, 1] = 1.0
    np.testing.assert_array_equal(colour["median-2x2"](image)[0], image)


def test_fs_is_zero_where_squeezing_changes_nothing(tiny_experiment):
    """Black and white images survive 1-bit depth and the median filter: distance 0, the top score."""
    detector = make_method("fs").fit(tiny_experiment)
    fixed = np.stack([np.zeros((1, 28, 28)), np.ones((1, 28, 28))]).astype(np.float32)
    np.testing.assert_array_equal(detector.score_samples(fixed), [0.0, 0.0])
    grey = np.random.default_rng(0).uniform(0.3, 0.7, (20, 1, 28, 28)).astype(np.float32)
    assert np.all(detector.score_samples(grey) <= 0) and np.any(detector.score_samples(grey) < 0)


# --------------------------------------------------------------------------- G-ODIN
def test_deconf_head_shapes_and_ranges():
    torch.manual_seed(0)
    head = DeConfHead(32, 10).eval()
    z = torch.randn(7, 32)
    h, g, f = head.h(z), head.g(z), head(z)
    assert h.shape == (7, 10) and g.shape == (7, 1) and f.shape == (7, 10)
    assert torch.all(h.abs() <= 1 + 1e-6) and torch.all((g > 0) & (g < 1))
    torch.testing.assert_close(f, h / g)
    torch.testing.assert_close(head.h(3.0 * z), h)  # cosine: the scale of z does not matter
    # h_i is the cosine between z and class i's weight vector
    torch.testing.assert_close(h[0, 4], torch.nn.functional.cosine_similarity(z[0], head.weight[4], dim=0))


def test_deconf_head_replaces_the_final_linear_of_a_copy(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.module.state_dict().items()}
    module, head = with_deconf_head(tiny_model.module, tiny_model.input_shape)
    name, linear = final_linear(tiny_model.module, tiny_model.input_shape)
    assert module.get_submodule(name) is head and (head.in_features, head.out_features) == (linear.in_features, 10)
    assert tiny_model.module.get_submodule(name) is linear  # the user's model is untouched
    for key, value in tiny_model.module.state_dict().items():
        torch.testing.assert_close(value, before[key])
    with torch.no_grad():
        assert module.eval()(torch.rand(3, 1, 28, 28, device=model_device(module))).shape == (3, 10)


def test_choose_epsilon_maximises_the_mean_score():
    eps, means = choose_epsilon(lambda e: -abs(e - 0.02))
    assert eps == 0.02 and set(means) == set(EPSILONS)


def test_godin_chooses_epsilon_on_id_validation_only(tiny_model, digits):
    """Fitted without any test split or anomaly set: eps maximises the mean score on val."""
    experiment = Experiment(tiny_model, "digits", digits["train"], digits["val"], test=None)
    detector = make_method("godin").fit(experiment)
    scores = detector.score_samples(digits["val"].images[:50])
    assert scores.shape == (50,) and np.all(np.abs(scores) <= 1 + 1e-6)  # max of cosines
    means = {e: godin_scores(detector.module_, detector.head_, digits["val"].images, e).mean() for e in EPSILONS}
    assert detector.epsilon_ == max(means, key=means.get)
    np.testing.assert_allclose([detector.tuning_[e] for e in EPSILONS], [means[e] for e in EPSILONS], rtol=1e-6)


def test_godin_checkpoint_is_cached_and_user_weights_kept(tiny_experiment):
    from detector.models.classifiers import weights_hash

    first = make_method("godin").fit(tiny_experiment)
    again = make_method("godin").fit(tiny_experiment)
    # the second fit loads the cached checkpoint instead of training
    for a, b in zip(first.module_.state_dict().values(), again.module_.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert weights_hash(tiny_experiment.model.module) == tiny_experiment.model.weights_hash


# --------------------------------------------------------------------------- NNIF
def test_neighbour_ranks_and_features_hand_computed():
    np.testing.assert_array_equal(neighbour_ranks(np.array([[0.5, 0.1, 0.3], [1.0, 2.0, 3.0]])), [[2, 0, 1], [0, 1, 2]])
    # one input at the origin; reference points at distances 1, 2, 3, 4 along an axis
    reference = np.array([[1.0, 0], [2, 0], [3, 0], [4, 0]])
    influence = np.array([[0.1, -5.0, 9.0, 0.0]])  # most helpful: #2 then #0; most harmful: #1 then #3
    features = nnif_features(influence, [np.zeros((1, 2))], [reference], n_helpful=2)
    #                helpful ranks, helpful distances, harmful ranks, harmful distances
    np.testing.assert_allclose(features, [[2, 0, 3, 1, 1, 3, 2, 4]])
    two_layers = nnif_features(np.zeros((5, 4)), [np.zeros((5, 2))] * 2, [reference] * 2, n_helpful=3)
    assert two_layers.shape == (5, 2 * 4 * 3)


def test_tracin_is_the_final_layer_gradient_dot_product():
    """TracIn over the last linear weight: (dL/dlogits . dL/dlogits') * (a . a')."""
    torch.manual_seed(0)
    body, head = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU()), nn.Linear(8, 3)
    module = nn.Sequential(body, head).eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    x_ref, y_ref = torch.rand(30, 1, 4, 4), torch.randint(0, 3, (30,))
    x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,))
    influence = tracin_influence(module, head, (x_ref, y_ref))(x, y)

    def parts(inputs, labels):
        a = body(inputs)
        return torch.softmax(head(a), 1) - nn.functional.one_hot(labels, 3), a

    (g, a), (g_ref, a_ref) = parts(x, y), parts(x_ref, y_ref)
    np.testing.assert_allclose(influence, ((g @ g_ref.T) * (a @ a_ref.T)).detach().double().numpy(), rtol=1e-4, atol=1e-6)


def test_nnif_separates_fgsm_from_clean_on_held_out_inputs(tiny_experiment):
    from detector.anomalies.adversarial import cached_adversarial

    detector = make_method("nnif", n_helpful=10, per_class=40).fit(tiny_experiment)
    test = tiny_experiment.test
    clean = test.images[:150]
    model = tiny_experiment.model
    fgsm = cached_adversarial("fgsm", model.module, model.weights_hash, clean, test.labels[:150], progress=False).images
    features = detector.characteristics(clean)
    assert features.shape == (150, len(detector.layers_) * 4 * 10)
    assert len(detector.reference_index_) == 40 * 10
    # trained on the validation split's FGSM, judged on the test split's
    assert auroc(detector.score_samples(clean), detector.score_samples(fgsm)) > 60


def test_nnif_leaves_the_shared_model_frozen(tiny_experiment):
    from detector.evaluation.benchmark import fit_method

    fit_method(tiny_experiment, "nnif").score_samples(tiny_experiment.test.images[:20])
    assert not any(p.requires_grad for p in tiny_experiment.model.module.parameters())
