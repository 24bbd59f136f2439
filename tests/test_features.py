import numpy as np
import pytest
import torch

from detector.errors import LayerError
from detector.method.features import LOGITS, FeatureExtractor, candidate_layers, extract
from detector.runtime import model_device


def test_candidate_layers_skip_dropout_and_containers_and_end_with_logits(tiny_model):
    layers = candidate_layers(tiny_model.module, (1, 28, 28))
    names = [layer.name for layer in layers]
    assert names[-1] == LOGITS and layers[-1].feature_dim == 10
    assert "head.3" not in names  # Dropout
    assert "features" not in names  # the Sequential repeats its last child's output
    assert "head.4" not in names  # the layer producing the logits is listed as "logits"
    conv = next(layer for layer in layers if layer.name == "features.0")
    assert conv.output_shape == (8, 26, 26) and conv.feature_dim == 8


def test_conv_features_are_channel_means_taken_before_inplace_relu(tiny_model, digits):
    images = digits["test"].images[:5]
    feats = extract(tiny_model.module, images, ["features.1", LOGITS])
    x = torch.from_numpy(images).to(model_device(tiny_model.module))  # the model may live on a GPU
    with torch.no_grad():
        bn = tiny_model.module.features[1](tiny_model.module.features[0](x - tiny_model.module.mean))
        logits = tiny_model.module(x)
    np.testing.assert_allclose(feats["features.1"], bn.mean((2, 3)).cpu().numpy(), rtol=1e-5, atol=1e-6)
    assert (feats["features.1"] < 0).any()  # the in-place ReLU after it did not leak in
    np.testing.assert_allclose(feats[LOGITS], logits.cpu().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("on_device", [False, True])
def test_flat_features_are_copied_before_an_inplace_relu(on_device):
    # VGG's classifier: Linear -> ReLU(inplace=True); the hook's flattened view of the Linear's
    # output must not be rectified by the ReLU that runs after the hook
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(inplace=True),
                                 torch.nn.Linear(8, 3)).eval()
    images = np.random.default_rng(0).random((6, 1, 4, 4), dtype=np.float32)
    feats = extract(module, images, ["1", LOGITS], on_device=on_device)
    with torch.no_grad():
        expected = module[1](torch.from_numpy(images).flatten(1)).numpy()
    found = feats["1"].cpu().numpy() if on_device else feats["1"]
    assert (expected < 0).any()
    np.testing.assert_allclose(found, expected, rtol=1e-6)


def test_device_features_are_tensors_on_the_models_device_equal_to_the_arrays(tiny_model, digits):
    images = digits["test"].images[:30]
    extractor = FeatureExtractor(tiny_model)
    arrays = extractor.features(images, ["features.2", LOGITS], cached=False)
    tensors = extractor.device_features(images, ["features.2", LOGITS])
    for name in ("features.2", LOGITS):
        assert tensors[name].device == model_device(tiny_model.module) and tensors[name].dtype == torch.float32
        np.testing.assert_array_equal(tensors[name].cpu().numpy(), arrays[name])
    with pytest.raises(LayerError):
        extractor.device_features(images, ["conv9"])


def test_features_are_cached_on_disk(tiny_model, digits, monkeypatch):
    images = digits["val"].images[:20]
    extractor = FeatureExtractor(tiny_model)
    first = extractor.features(images, ["features.2", LOGITS])
    calls = []
    monkeypatch.setattr("detector.method.features.extract", lambda *a, **k: calls.append(1))
    second = FeatureExtractor(tiny_model).features(images, ["features.2", LOGITS])
    assert not calls
    np.testing.assert_array_equal(first["features.2"], second["features.2"])


def test_unknown_layer_lists_valid_ones(tiny_model, digits):
    with pytest.raises(LayerError, match="valid layers: features.0"):
        FeatureExtractor(tiny_model).features(digits["val"].images[:2], ["conv9"])


@pytest.mark.parametrize("trial", range(3))
def test_threads_sharing_one_model_get_their_own_features(tiny_model, trial):
    """Sessions of one server extract through one module at once, with other batch sizes: each call's
    hooks must see its own forward passes only (the shared hooks crashed or mixed rows, issue 23)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    rng = np.random.default_rng(trial)
    sets = [rng.uniform(0, 1, (1000, 1, 28, 28)).astype(np.float32) for _ in range(3)]
    layers = ["features.0", "features.2", "head.1", LOGITS]
    alone = [extract(tiny_model.module, images, layers) for images in sets]
    start = Barrier(len(sets))

    def run(i: int) -> dict:
        start.wait()
        extractor = FeatureExtractor(tiny_model, batch_size=(50, 70, 130)[i])
        return extractor.features(sets[i], layers) if i else extractor.features(sets[i], layers, cached=False)

    with ThreadPoolExecutor(len(sets)) as pool:
        together = list(pool.map(run, range(len(sets))))
    for mine, expected in zip(together, alone):
        for name in layers:
            np.testing.assert_allclose(mine[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
