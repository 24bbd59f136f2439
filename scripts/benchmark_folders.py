"""Memory and speed of a pass over a folder of pictures. Prints, never asserts.

    OMP_NUM_THREADS=1 nice .venv/bin/python scripts/benchmark_folders.py [--folder DIR] [--counts 2000 20000]

Writes 20,000 RGB 64x64 PNGs (10 class folders; in a temporary folder unless ``--folder`` names
one, which is reused when it holds enough), then for each count runs, in a fresh subprocess so
that its peak resident memory is its own:

- feature extraction: every candidate layer of a small CNN (3 conv blocks) over the first N
  pictures, read lazily (:class:`detector.data.folders.FolderImages`: a DataLoader with worker
  processes, one batch in flight) and not cached;
- scoring: ``UniformDetector.score_samples`` of the same N pictures, the detector fitted first on
  500 other pictures held in memory.

It prints pictures per second of each pass and the peak resident memory (``ru_maxrss``) of the
process (at the end, and after the feature extraction) and of its DataLoader workers. The goal: less than 100 MB
between 2,000 and 20,000 pictures (held in memory, 20,000 would be 983 MB as float32) and time linear in N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHAPE = (3, 64, 64)
CLASSES = 10


def write_pictures(folder: Path, count: int) -> None:
    """``count`` smooth random RGB pictures (8x8 noise enlarged: PNGs of a few KB, like photos' sizes here)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(count):
        target = folder / f"class{k % CLASSES}" / f"{k:06d}.png"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        noisy = np.asarray(small.resize(SHAPE[1:], Image.BILINEAR), dtype=np.int16) + rng.integers(-8, 9, (64, 64, 3))
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(target)


def small_cnn():
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]  # noqa: E731
    return nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, CLASSES)).eval()


def child(folder: Path, count: int) -> dict:
    """One measurement, in its own process."""
    from detector.data import folders
    from detector.data.folders import FolderImages
    from detector.method.features import LOGITS, FeatureExtractor
    from detector.method.uniform import UniformDetector
    from detector.models.classifiers import prepare_classifier

    files = sorted(folders.picture_files(folder))
    if len(files) < count + 500:
        raise SystemExit(f"{folder} holds {len(files)} pictures; {count + 500} are needed")
    info = prepare_classifier("small-cnn", small_cnn(), SHAPE, None)
    images = FolderImages(files[:count], SHAPE, f"{count} pictures", progress=True)
    extractor = FeatureExtractor(info)
    layers = [layer.name for layer in extractor.layers]
    started = time.perf_counter()
    feats = extractor.features(images, layers, cached=False)
    extract_s = time.perf_counter() - started
    assert len(feats[LOGITS]) == count
    features_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del feats

    held = FolderImages(files[-500:], SHAPE).read()  # the detector's own small train / validation sets
    detector = UniformDetector(info, layer=layers[2], min_samples=5).fit(held[:400], held[400:])
    started = time.perf_counter()
    scores = detector.score_samples(images)
    score_s = time.perf_counter() - started
    assert len(scores) == count and np.isfinite(scores).all()
    return {"count": count, "extract_s": extract_s, "score_s": score_s, "features_rss_mb": features_rss,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # kB on Linux
            "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", help="where the pictures are (written when missing); default: a temporary folder")
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.folder), args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        total = max(args.counts) + 500
        started = time.perf_counter()
        write_pictures(folder, total)
        print(f"{total:,} RGB 64x64 PNGs in {folder}: written or found in {time.perf_counter() - started:.0f} s", flush=True)
        results = []
        for count in args.counts:
            env = {**os.environ, "ANOMALY_CACHE_DIR": str(Path(tmp) / "cache")}  # the detector's features: not cache/
            run = subprocess.run([sys.executable, __file__, "--folder", str(folder), "--child", str(count)],
                                 capture_output=True, text=True, cwd=ROOT, env=env)
            if run.returncode:
                sys.exit(f"the run over {count} pictures failed:\n{run.stderr[-3000:]}")
            results.append(json.loads(run.stdout.strip().splitlines()[-1]))
            print(run.stderr.strip().splitlines()[-1][-160:] if run.stderr.strip() else "", flush=True)
    print(f"\n{'pictures':>9} {'features s':>10} {'img/s':>7} {'scoring s':>9} {'img/s':>7} {'peak RSS MB':>11} "
          f"{'(features)':>10} {'workers MB':>10}")
    for r in results:
        print(f"{r['count']:>9,} {r['extract_s']:>10.1f} {r['count'] / r['extract_s']:>7.0f} {r['score_s']:>9.1f} "
              f"{r['count'] / r['score_s']:>7.0f} {r['rss_mb']:>11.0f} {r['features_rss_mb']:>10.0f} "
              f"{r['workers_rss_mb']:>10.0f}")
    if len(results) >= 2:
        first, last = results[0], results[-1]
        ratio = last["count"] / first["count"]
        print(f"\npeak RSS difference {last['rss_mb'] - first['rss_mb']:+.0f} MB for {ratio:.0f}x the pictures "
              f"(as one float32 array they would be {last['count'] * np.prod(SHAPE) * 4 / 2**20:.0f} MB); time ratio "
              f"{last['extract_s'] / first['extract_s']:.1f}x (features), {last['score_s'] / first['score_s']:.1f}x (scoring)")


if __name__ == "__main__":
    main()
