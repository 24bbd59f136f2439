"""First use of each built-in model with an empty cache: loading its network (shipped weights,
or training when they are missing), then the detector fit (features of every candidate layer,
MDL choice, per-class SVDDs), as the dashboard's first view needs them; then, in another empty
cache, `python -m detector evaluate --model NAME` end to end on three sets: the other of
MNIST / Fashion-MNIST, Gaussian noise and FGSM.
Prints the estimate given beforehand beside the measured times.

    python scripts/benchmark_first_use.py [--models lenet-mnist resnet-fashion-mnist]

Each run is its own process with a fresh temporary cache (datasets parsed anew too).
Goals on this 2-core CPU: `evaluate` well under 2.5 min end to end, nothing trained; a model picked in the
dashboard usable within 30 s.

    python scripts/benchmark_first_use.py --switch [--models resnet-fashion-mnist]

times the dashboard instead: a session on the default model (loaded first, not counted) picks each model in
the sidebar, and the seconds until that run has drawn the Start page with the new model's sidebar are
printed beside the estimate the switch showed (an empty cache: what the first pick after install costs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("lenet-mnist", "lenet-fashion-mnist", "resnet-fashion-mnist")
OOD = {"lenet-mnist": "fashion-mnist", "lenet-fashion-mnist": "mnist", "resnet-fashion-mnist": "mnist"}
GOAL_S = 150  # evaluate, end to end


def first_use(name: str) -> dict:
    """Run in the child: time the stages of a first use of ``name``."""
    sys.path.insert(0, str(ROOT))
    from detector.evaluation.experiment import fit_uniform, load_experiment
    from detector.evaluation.first_use import estimate_first_use
    from detector.models.classifiers import load_model

    started = time.perf_counter()
    estimate = estimate_first_use(name)
    estimated = time.perf_counter()
    load_model(name, progress=False)
    trained = time.perf_counter()
    experiment = load_experiment(name)
    detector = fit_uniform(experiment)
    fitted = time.perf_counter()
    accuracy = experiment.test_accuracy
    return {"model": name, "estimate_s": estimate.total_s, "estimating_s": estimated - started,
            "training_s": trained - estimated, "detector_s": fitted - trained, "accuracy": accuracy,
            "mdl": detector.mdl_, "candidates": len(detector.layer_errors_)}


SWITCH_GOAL_S = 30


def dashboard_switch(name: str) -> dict:
    """Run in the child: pick ``name`` in the dashboard's sidebar (AppTest) and time the run that follows."""
    sys.path.insert(0, str(ROOT))
    from streamlit.testing.v1 import AppTest

    from dashboard.sidebar import navigation_only_in_apptest

    with navigation_only_in_apptest():  # as a server runs it after its first st.navigation
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        at.run()  # the default model's first use: not counted
        started, cpu = time.perf_counter(), time.process_time()
        at.selectbox(key="_model").set_value(name).run()
        usable, cpu = time.perf_counter() - started, time.process_time() - cpu
    problems = [str(e.value) for e in at.exception]
    toast = next((t.value for t in at.toast if t.value.startswith(name)), "")
    return {"model": name, "usable_s": usable, "cpu_s": cpu, "toast": toast, "problems": problems,
            "mdl": at.selectbox(key=f"_layer:{name}").value if not problems else None}


def switch_main(models: list[str]) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    for name in models:
        with tempfile.TemporaryDirectory() as cache_dir:
            env = {**os.environ, "ANOMALY_CACHE_DIR": cache_dir, "DASHBOARD_PRELOAD": "0"}
            out = subprocess.run([sys.executable, __file__, "--switch-child", name], env=env, check=True,
                                 capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"picking {name} in the dashboard (empty cache): usable after {r['usable_s']:.1f} s "
              f"(goal {SWITCH_GOAL_S} s; {r['cpu_s']:.1f} s of CPU); MDL {r['mdl']}; the switch said: {r['toast'] or '-'}"
              + (f"; problems: {r['problems']}" if r["problems"] else ""), flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--switch", action="store_true", help="time a model picked in the dashboard instead")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--switch-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(first_use(args.child)))
        return
    if args.switch_child:
        print(json.dumps(dashboard_switch(args.switch_child)))
        return
    if args.switch:
        switch_main(args.models if args.models != list(MODELS) else ["resnet-fashion-mnist"])
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print(f"{'model':<22} {'estimate':>9} {'network':>9} {'detector':>9} {'total':>9} {'evaluate':>9} "
          f"{'accuracy':>9}  MDL")
    for name in args.models:
        with tempfile.TemporaryDirectory() as cache_dir:
            env = {**os.environ, "ANOMALY_CACHE_DIR": cache_dir}
            out = subprocess.run([sys.executable, __file__, "--child", name], env=env, check=True,
                                 capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        total = r["estimating_s"] + r["training_s"] + r["detector_s"]
        with tempfile.TemporaryDirectory() as cache_dir:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "detector", "evaluate", "--model", name,
                            "--anomaly", OOD.get(name, "gaussian"), "--anomaly", "gaussian", "--anomaly", "fgsm"],
                           cwd=ROOT, check=True,
                           env={**os.environ, "ANOMALY_CACHE_DIR": cache_dir}, capture_output=True)
            evaluate_s = time.perf_counter() - started
        print(f"{name:<22} {r['estimate_s']:>8.0f}s {r['training_s']:>8.0f}s {r['detector_s']:>8.0f}s {total:>8.0f}s "
              f"{evaluate_s:>8.0f}s {100 * r['accuracy']:>8.2f}%  {r['mdl']} (of {r['candidates']})", flush=True)
    print(f"goal: evaluate under {GOAL_S} s, nothing trained (network column: loading the shipped weights)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
