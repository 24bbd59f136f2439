"""Transformers as users bring them: a small timm ViT (28x28 grey, 4x4 patches, class token) and a small timm Swin
(32x32 grey, 4x4 patches, windows of 4), trained briefly on Fashion-MNIST, for the detector's command line.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python scripts/transformer_models.py vit --epochs 5
    .venv/bin/python -m detector layers --model scripts/transformer_models.py:vit --id-dataset fashion-mnist
    .venv/bin/python -m detector evaluate --model scripts/transformer_models.py:vit --weights vit-fashion-mnist.pt \\
        --id-dataset fashion-mnist --train-limit 20000 --test-limit 2000 --method ours,ours+conf,ours+knn,knn \\
        --anomaly mnist --anomaly digits --anomaly gaussian --anomaly distorted --anomaly letters

The first command trains the network (seeded, on the CPU) on a seeded subset of Fashion-MNIST's training
split and writes its state dict to --weights; the factories below build it (random weights: nothing is
downloaded).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def vit() -> torch.nn.Module:
    """timm's ViT, narrowed: 4 blocks of width 64 over 49 patches of 4x4 and the class token it classifies by."""
    network = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=28, patch_size=4,
                                in_chans=1, embed_dim=64, depth=4, num_heads=4)
    network.input_shape = (1, 28, 28)
    return network


def swin() -> torch.nn.Module:
    """timm's Swin, narrowed: three stages (2, 2, 2 blocks) of width 32, 64, 128 over 8x8, 4x4, 2x2 tokens."""
    network = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=10, img_size=32,
                                in_chans=1, window_size=4, embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8))
    network.input_shape = (1, 32, 32)
    return network


FACTORIES = {"vit": vit, "swin": swin}


def main() -> None:
    from detector.data.loading import load_dataset
    from detector.inputs.images import to_input_shape
    from detector.models.checkpoints import save_checkpoint
    from detector.models.classifiers import prepare_classifier
    from detector.models.training import train_classifier
    from detector.runtime import subsample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", choices=sorted(FACTORIES))
    parser.add_argument("--train", type=int, default=20000, help="training images (a seeded subset)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=Path, help="where the state dict goes (default: NETWORK-fashion-mnist.pt)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    network = FACTORIES[args.network]()
    shape = network.input_shape
    data = {part: load_dataset("fashion-mnist", part) for part in ("train", "test")}
    keep = subsample(len(data["train"].labels), args.train, args.seed)
    images = to_input_shape(data["train"].images[keep], shape, "fashion-mnist/train")
    started = time.perf_counter()
    network = train_classifier(network, images, data["train"].labels[keep], epochs=args.epochs, batch_size=128,
                               lr=2e-3, schedule="one-cycle", augment="none", device="cpu", seed=args.seed,
                               desc=f"training {args.network}")
    print(f"trained in {time.perf_counter() - started:.0f} s")
    save_checkpoint(network, args.weights or Path(f"{args.network}-fashion-mnist.pt"))
    test = data["test"]
    model = prepare_classifier(args.network, network, shape, "fashion-mnist")
    test_images = to_input_shape(test.images, shape, "fashion-mnist/test")
    with torch.no_grad():
        predicted = model.module(torch.from_numpy(test_images[:2000])).argmax(1).cpu().numpy()
    accuracy = float(np.mean(predicted == test.labels[:2000]))
    print(f"test accuracy {100 * accuracy:.2f} % (first 2,000 test images)")


if __name__ == "__main__":
    main()
