"""Users' networks as they come (issue 26): torchvision and timm architectures built offline with random
weights. Their candidate layers are the stage and block outputs, found by structure (no layer inside a
squeeze-excitation or attention branch); token and channels-last outputs are reduced as the model reads
them; the detector fits and scores on a few 32x32 inputs."""

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
import torchvision

from detector.method.features import LOGITS, FeatureExtractor, block_layers, layer_reductions
from detector.method.reductions import CHANNELS_LAST_MEAN, CLASS_TOKEN, SPATIAL_MEAN, SPATIAL_MEAN_STD, TOKEN_MEAN
from detector.method.structure import residual_blocks
from detector.method.uniform import UniformDetector
from detector.models.classifiers import prepare_classifier
from tests.test_app import navigation_pages  # noqa: F401  (AppTest fixture)

SHAPE = (3, 32, 32)
EFFICIENTNET_BLOCKS = ["features.1.0", *(f"features.{stage}.{block}" for stage, blocks in
                                         ((2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 1)) for block in range(blocks))]


def vit() -> nn.Module:
    return torchvision.models.VisionTransformer(image_size=32, patch_size=4, num_layers=2, num_heads=2, hidden_dim=32,
                                                mlp_dim=64, num_classes=10)


def timm_swin() -> nn.Module:
    return timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=32, window_size=4, embed_dim=16,
                             depths=(2, 2), num_heads=(1, 2), num_classes=10)


# builder, the candidates (logits aside), their reductions: a signed block output wider than one position
# (an inverted residual's linear bottleneck, a Hardswish or SiLU stem) keeps its spread, a ReLU's keeps the mean
ARCHITECTURES = {
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(num_classes=10),
                           [f"features.{i}" for i in range(13)], [SPATIAL_MEAN_STD] * 9 + [SPATIAL_MEAN] * 4),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(num_classes=10),
                        ["features.0", *EFFICIENTNET_BLOCKS, "features.8"], [SPATIAL_MEAN_STD] * 12 + [SPATIAL_MEAN] * 6),
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10),
                 [f"layer{stage}.{block}" for stage in range(1, 5) for block in range(2)], [SPATIAL_MEAN] * 8),
    "vgg11": (lambda: torchvision.models.vgg11(num_classes=10),  # a plain CNN: its pooling stages
              ["features.2", "features.5", "features.10", "features.15", "features.20", "avgpool"], [SPATIAL_MEAN] * 6),
    "vit": (vit, ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"], [CLASS_TOKEN] * 2),
    "timm-swin": (timm_swin, [f"layers.{stage}.blocks.{block}" for stage in range(2) for block in range(2)],
                  [CHANNELS_LAST_MEAN] * 4),
}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return {split: rng.uniform(0, 1, (n, *SHAPE)).astype(np.float32) for split, n in (("train", 60), ("val", 30),
                                                                                       ("test", 8))}


def build(name: str):
    torch.manual_seed(0)
    return prepare_classifier(name, ARCHITECTURES[name][0](), SHAPE, None)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_candidates_are_the_stage_and_block_outputs_and_the_detector_runs(name, images):
    _, expected, reductions = ARCHITECTURES[name]
    model = build(name)
    layers = block_layers(model.module, SHAPE)
    assert [layer.name for layer in layers] == [*expected, LOGITS]
    assert [layer.reduction for layer in layers] == [*reductions, "as is"]
    named = dict(model.module.named_modules())
    inside = (torchvision.ops.SqueezeExcitation, nn.MultiheadAttention, timm.models.swin_transformer.WindowAttention)
    for layer in layers[:-1]:  # never a layer inside a squeeze-excitation or attention branch
        parents = [named[".".join(layer.name.split(".")[:k])] for k in range(1, layer.name.count(".") + 2)]
        assert not any(isinstance(parent, inside) for parent in parents), layer.name
    detector = UniformDetector(model, min_samples=5).fit(images["train"], images["val"])
    assert list(detector.layer_errors_) == expected and detector.mdl_ in expected
    scores = detector.score_samples(images["test"])
    assert scores.shape == (8,) and np.all(np.isfinite(scores))


def test_a_vits_blocks_are_read_at_their_class_token():
    """The head reads the class token (token 0) of the last block's output: so do the features; the patch
    embedding has no class token yet (conv map), and a timm ViT that averages its tokens is averaged."""
    model = build("vit")
    images = np.random.default_rng(1).uniform(0, 1, (4, *SHAPE)).astype(np.float32)
    name = "encoder.layers.encoder_layer_1"
    feats = FeatureExtractor(model).features(images, [name], cached=False)[name]
    captured = []
    block = dict(model.module.named_modules())[name]
    handle = block.register_forward_hook(lambda _m, _i, output: captured.append(output))
    with torch.no_grad():
        model.module(torch.from_numpy(images).to(next(model.module.parameters()).device))
    handle.remove()
    np.testing.assert_allclose(feats, captured[0][:, 0].cpu().numpy(), rtol=1e-6)
    assert not np.allclose(feats, captured[0].mean(1).cpu().numpy(), atol=1e-3)
    assert layer_reductions(model.module, SHAPE, ["conv_proj", name, LOGITS]) == {
        "conv_proj": SPATIAL_MEAN, name: CLASS_TOKEN, LOGITS: "as is"}
    averaged = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                                 num_classes=10, global_pool="avg").eval()
    assert layer_reductions(averaged, SHAPE, ["blocks.1", "patch_embed"]) == {"blocks.1": TOKEN_MEAN,
                                                                           "patch_embed": TOKEN_MEAN}


def test_a_linear_bottleneck_keeps_each_channels_mean_and_spread():
    """An inverted residual ends with a BatchNorm (no activation): its features are each channel's spatial
    mean, then its standard deviation over the positions; a block after a ReLU keeps the paper's means only."""
    model = build("mobilenet_v3_small")
    images = np.random.default_rng(3).uniform(0, 1, (4, *SHAPE)).astype(np.float32)
    name = "features.1"
    feats = FeatureExtractor(model).features(images, [name], cached=False)[name]
    captured = []
    handle = dict(model.module.named_modules())[name].register_forward_hook(lambda _m, _i, output: captured.append(output))
    with torch.no_grad():
        model.module(torch.from_numpy(images).to(next(model.module.parameters()).device))
    handle.remove()
    maps = captured[0].cpu().numpy()  # (4, 16, 8, 8), signed
    assert maps.min() < 0 and feats.shape == (4, 32)
    np.testing.assert_allclose(feats, np.c_[maps.mean((2, 3)), maps.std((2, 3))], rtol=1e-4, atol=1e-6)
    relu_block = build("resnet18")
    assert layer_reductions(relu_block.module, SHAPE, ["layer1.0", "layer4.1"]) == {"layer1.0": SPATIAL_MEAN,
                                                                                   "layer4.1": SPATIAL_MEAN}


def test_channels_last_maps_are_averaged_over_their_spatial_dims():
    model = build("timm-swin")
    images = np.random.default_rng(2).uniform(0, 1, (3, *SHAPE)).astype(np.float32)
    feats = FeatureExtractor(model).features(images, ["layers.1.blocks.1"], cached=False)["layers.1.blocks.1"]
    assert feats.shape == (3, 32)  # channels, not the 4 x 4 positions' means
    with torch.no_grad():
        x = torch.from_numpy(images).to(next(model.module.parameters()).device)
        maps = model.module.forward_features(x)  # (N, H, W, C): the last stage's output, then its norm
    assert maps.shape == (3, 4, 4, 32)


class Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(width, width, 1), nn.Sigmoid())  # an SE branch

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return x + y * self.gate(y)


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class OwnNet(nn.Module):
    """Blocks as plain attributes, in no container: only the residual sums tell where they are."""

    def __init__(self):
        super().__init__()
        self.stem = Plain()
        self.first, self.second = Residual(8), Residual(8)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x):
        return self.head(self.second(self.first(self.stem(x))))


def test_residual_sums_find_blocks_outside_containers_and_gates_are_no_block():
    module = OwnNet().eval()
    assert residual_blocks(module, SHAPE) == ["first", "second"]  # not the stem, the gates, nor the whole net
    assert [layer.name for layer in block_layers(module, SHAPE)] == ["first", "second", LOGITS]


ARCHITECTURE_FILE = '''
import timm, torch, torchvision

def make_{name}():
    torch.manual_seed(0)
    net = {builder}
    net.input_shape = (3, 32, 32)
    return net
'''
BUILDERS = {"mobilenet_v3_small": "torchvision.models.mobilenet_v3_small(num_classes=3)",
            "vit": "torchvision.models.VisionTransformer(image_size=32, patch_size=4, num_layers=2, num_heads=2, "
                   "hidden_dim=32, mlp_dim=64, num_classes=3)",
            "timm-swin": "timm.create_model('swin_tiny_patch4_window7_224', pretrained=False, img_size=32, "
                         "window_size=4, embed_dim=16, depths=(2, 2), num_heads=(1, 2), num_classes=3)"}


@pytest.mark.parametrize("name", [pytest.param("mobilenet_v3_small", marks=pytest.mark.slow), "vit", "timm-swin"])
def test_the_layers_page_lists_a_user_architectures_blocks(name, tmp_path, monkeypatch):
    """A user's network on a small ID folder, with a small anomaly folder: the Layers page's table and
    its MDL picker list the block outputs, each with its reduction."""
    from streamlit.testing.v1 import AppTest

    from dashboard.model_loading import ID_FOLDER, USER_MODEL
    from tests.test_app import APP, TIMEOUT
    from tests.test_folders import write_class_folders

    factory = f"make_{name.replace('-', '_')}"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "arch.py").write_text(ARCHITECTURE_FILE.format(name=name.replace("-", "_"),
                                                                          builder=BUILDERS[name]))
    write_class_folders(tmp_path / "data" / "pets", 40)
    write_class_folders(tmp_path / "data" / "other", 4, seed=1)
    monkeypatch.setenv("DASHBOARD_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    spec = f"arch.py:{factory}"
    state = {"model": USER_MODEL, "user_spec": spec, "user_id_dataset": ID_FOLDER, "user_id_folder": "pets",
             f"sets:{spec}": [], "anomaly_folders": "other=other"}  # a small anomaly folder, no 5,000-image set
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/layers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    expected = [*ARCHITECTURES[name][1], LOGITS]
    table = at.dataframe[0].value
    assert list(table["layer"]) == [*expected, "confidence"]
    assert list(table["reduction"])[:-2] == ARCHITECTURES[name][2]
    picker = [option.split()[0] for option in at.selectbox(key="layers_pick").options]  # "name  ★ MDL"
    assert set(expected[:-1]) <= set(picker) and LOGITS not in picker


@pytest.mark.parametrize("name, first", [("mobilenet_v3_small", "1.features.0"), ("vgg11", "1.features.2")])
def test_a_network_behind_its_normalisation_keeps_its_candidates(name, first):
    """nn.Sequential(Normalize(...), network), as users give their inputs' scaling: the same candidates,
    under the network's prefix."""
    torch.manual_seed(0)
    wrapped = nn.Sequential(torchvision.transforms.Normalize((0.5,) * 3, (0.25,) * 3), ARCHITECTURES[name][0]()).eval()
    names = [layer.name for layer in block_layers(wrapped, SHAPE)]
    assert names == [*(f"1.{layer}" for layer in ARCHITECTURES[name][1]), LOGITS] and names[0] == first


class KeywordNet(OwnNet):
    def forward(self, x):
        return self.head(self.second(x=self.first(self.stem(x))))


def test_a_block_called_with_keyword_arguments_does_not_stop_the_search():
    """A pre-hook sees no positional input then: that block's sum is not found, the others are."""
    assert residual_blocks(KeywordNet().eval(), SHAPE) == ["first"]


def test_the_layers_command_keeps_its_columns_aligned_for_long_layer_types(tmp_path, capsys):
    """torchvision's kinds (Conv2dNormActivation) are longer than LeNet's: each column starts where its header does."""
    from detector.cli.main import main

    (tmp_path / "arch.py").write_text(ARCHITECTURE_FILE.format(name="mobilenet", builder=BUILDERS["mobilenet_v3_small"]))
    assert main(["layers", "--model", f"{tmp_path / 'arch.py'}:make_mobilenet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("layer "))
    rows = [line for line in lines if line.startswith("features.")]
    assert any("Conv2dNormActivation" in row for row in rows)
    assert all(row[header.index("output shape"):].startswith("(") for row in rows)
    assert all(row[header.index("reduction"):].startswith("spatial mean") for row in rows)
