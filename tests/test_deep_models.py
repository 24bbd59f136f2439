"""ResNet-18 and VGG-16 (random weights, 32x32 RGB noise): their block outputs are the candidate
layers, ``candidates="all"`` keeps every layer, and the detector fits and scores on both."""

import numpy as np
import pytest
import torch
import torchvision

from detector.method.features import LOGITS, FeatureExtractor, block_layers, candidate_layers
from detector.method.uniform import UniformDetector
from detector.models.architectures import VGG16, ResNet18
from detector.models.classifiers import prepare_classifier

RESNET_BLOCKS = [f"layer{stage}.{block}" for stage in range(1, 5) for block in range(2)]
VGG_POOLS = ["features.6", "features.13", "features.23", "features.33", "features.43"]  # after conv 2, 4, 7, 10, 13


@pytest.fixture(scope="module")
def images():
    """Few inputs, as the point is the plumbing: 60 train, 30 validation, 8 test."""
    rng = np.random.default_rng(0)
    return {split: rng.uniform(0, 1, (n, 3, 32, 32)).astype(np.float32)
            for split, n in (("train", 60), ("val", 30), ("test", 8))}


def classifier(name, module):
    return prepare_classifier(name, module, (3, 32, 32), None)  # on the default device, eval mode


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return classifier("resnet18", ResNet18())


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return classifier("vgg16", VGG16())


def test_resnet_candidates_are_its_residual_blocks(resnet):
    blocks = block_layers(resnet.module, resnet.input_shape)
    assert [b.name for b in blocks] == [*RESNET_BLOCKS, LOGITS]
    assert [b.feature_dim for b in blocks[:-1]] == [64, 64, 128, 128, 256, 256, 512, 512]
    every = [layer.name for layer in candidate_layers(resnet.module, resnet.input_shape)]
    assert len(every) > 50 and "layer1.0.conv1" in every and set(RESNET_BLOCKS) <= set(every)


def test_vgg_candidates_are_its_pooling_stages(vgg):
    blocks = block_layers(vgg.module, vgg.input_shape)
    assert [b.name for b in blocks] == [*VGG_POOLS, LOGITS]
    assert [b.kind for b in blocks[:-1]] == ["MaxPool2d"] * 5 and blocks[-2].feature_dim == 512


def test_torchvision_blocks_are_listed_under_their_own_names():
    """torchvision's BasicBlock ends with an in-place ReLU: its output is its child's tensor, which
    candidate_layers lists under the child's name; the block is still a candidate, by its own name."""
    torch.manual_seed(0)
    model = classifier("tv-resnet18", torchvision.models.resnet18(num_classes=10))
    assert "layer1.0" not in [layer.name for layer in candidate_layers(model.module, model.input_shape)]
    assert [b.name for b in block_layers(model.module, model.input_shape)] == [*RESNET_BLOCKS, LOGITS]
    extractor = FeatureExtractor(model)
    extractor.check_layer("layer1.0")  # valid as an explicit MDL too, and offered as one
    assert "layer1.0" in [layer.name for layer in extractor.valid_layers]
    feats = extractor.features(np.zeros((2, 3, 32, 32), np.float32), ["layer2.1", LOGITS], cached=False)
    assert feats["layer2.1"].shape == (2, 128) and np.all(feats["layer2.1"] >= 0)  # after the block's ReLU


def test_small_nets_keep_every_layer(tiny_model):
    """LeNet-like nets (few layers) are searched layer by layer, as in the paper."""
    every = candidate_layers(tiny_model.module, tiny_model.input_shape)
    assert block_layers(tiny_model.module, tiny_model.input_shape) == every


@pytest.mark.parametrize("name, expected", [("resnet", RESNET_BLOCKS), ("vgg", VGG_POOLS)])
def test_detector_fits_on_deep_models(name, expected, images, request):
    model = request.getfixturevalue(name)
    detector = UniformDetector(model, min_samples=5).fit(images["train"], images["val"])
    assert list(detector.layer_errors_) == expected and detector.mdl_ in expected
    scores = detector.score_samples(images["test"])
    assert scores.shape == (8,) and np.all(np.isfinite(scores))


def test_candidates_all_tries_every_layer(vgg, images):
    detector = UniformDetector(vgg, candidates="all", min_samples=5).fit(images["train"], images["val"])
    every = [layer.name for layer in candidate_layers(vgg.module, vgg.input_shape) if layer.name != LOGITS]
    assert list(detector.layer_errors_) == every and len(every) == 44


def test_unknown_candidates_choice_lists_the_valid_ones(vgg, images):
    with pytest.raises(ValueError, match="'candidates' parameter .*'blocks'"):
        UniformDetector(vgg, candidates="some").fit(images["train"], images["val"])
