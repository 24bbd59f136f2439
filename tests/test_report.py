"""Benchmark runner, report files and Outlier Exposure, on the tiny digits CNN."""

import csv
import json

import pytest

from detector.evaluation.benchmark import METHODS, Benchmark, expand_methods, run_benchmark
from detector.evaluation.evaluate import Row
from detector.evaluation.paper import PAPER
from detector.evaluation.report import losses, write_report


def test_paper_figures_parsed():
    figures = PAPER["lenet-mnist"]
    assert figures[("fashion-mnist", "msp")] == (97.90, 99.26)
    assert figures[("fooling", "mahalanobis")] == (2.07, 68.61)
    assert figures[("cw", "ours+oe")] == (92.46, 98.44)


def test_expand_methods():
    assert expand_methods(["all"]) == list(METHODS)
    assert expand_methods(["msp,lid+known", "msp+oe"]) == ["msp", "lid+known", "msp+oe"]
    with pytest.raises(ValueError, match="valid methods"):
        expand_methods(["nope"])
    with pytest.raises(ValueError, match="valid methods"):
        expand_methods(["msp+known"])


def test_report_files(tiny_experiment, tmp_path):
    bench = run_benchmark(tiny_experiment, ["msp", "energy"], ["gaussian"], model_name="lenet-mnist", echo=lambda _: None)
    assert {(r.method, r.weighting) for r in bench.rows} == {(m, w) for m in ("msp", "energy") for w in ("per-class", "global")}
    paths = write_report(bench, tmp_path / "report.md")
    text = paths[0].read_text()
    assert "| method | gaussian |" in text and "**" in text
    assert "(99.58)" in text  # the paper's MSP AUROC on Gaussian noise, beside ours
    with open(paths[1]) as handle:
        assert len(list(csv.DictReader(handle))) == 4
    data = json.loads(paths[2].read_text())
    assert data["rows"][0]["method"] == "msp" and "paper_auroc" in data["rows"][0]
    seconds = data["method_seconds"]["held-out"]
    assert set(seconds) == {"msp", "energy"} and all(s >= 0 for s in seconds.values())
    assert f"`msp` {bench.method_seconds['msp']:.0f}" in text  # the header says what each method cost


def test_known_attack_rows_only_for_attacks(tiny_experiment):
    bench = run_benchmark(tiny_experiment, ["lid+known"], ["gaussian", "fgsm"], echo=lambda _: None)
    assert {r.anomaly for r in bench.rows} == {"fgsm"}


def test_losses_are_stated():
    bench = Benchmark("m", experiment=None, rows=[
        Row("ours", "a", "ood", "per-class", 90.0, 95.0, 95.0, 0),
        Row("lid", "a", "ood", "per-class", 99.0, 94.0, 95.0, 0),
        Row("ours+conf-equal", "a", "ood", "per-class", 99.5, 93.0, 95.0, 0)])
    said = losses(bench)  # one of ours beating another is no loss; each of ours is compared with lid
    assert len(said) == 2 and "`ours` loses on **a** (TNR@95TPR)" in said[0] and "`lid`" in said[0]
    assert "`ours+conf-equal`" not in said[0] and said[1].startswith("- `ours+conf-equal` loses on **a** (AUROC)")


def test_outlier_exposure_lowers_confidence_on_the_auxiliary_set(tiny_experiment):
    from scipy.special import softmax

    from detector.evaluation.oe import auxiliary_outliers, outlier_exposure

    tuned = outlier_exposure(tiny_experiment, epochs=2)
    assert tuned.model.weights_hash != tiny_experiment.model.weights_hash
    assert tuned.test_accuracy > 0.8
    aux = auxiliary_outliers(tiny_experiment.model.input_shape)[::10]
    before = softmax(tiny_experiment.extractor.logits(aux), 1).max(1).mean()
    after = softmax(tuned.extractor.logits(aux), 1).max(1).mean()
    assert after < before
    assert not any(p.requires_grad for p in tiny_experiment.model.module.parameters())  # the original is untouched


def test_authors_protocol_rows(tiny_experiment, tmp_path):
    benches = [run_benchmark(tiny_experiment, ["msp"], ["gaussian"], protocol=p, echo=lambda _: None)
               for p in ("held-out", "authors")]
    assert all(len(b.rows) == 2 for b in benches)
    paths = write_report(benches, tmp_path / "both.md")
    text = paths[0].read_text()
    assert "held-out protocol" in text and "authors protocol" in text
    assert {r["protocol"] for r in json.loads(paths[2].read_text())["rows"]} == {"held-out", "authors"}
    with pytest.raises(ValueError, match="protocol"):
        run_benchmark(tiny_experiment, ["msp"], ["gaussian"], protocol="mine", echo=lambda _: None)


def test_limited_splits_are_seeded_subsets_and_the_report_says_so(tmp_path):
    from detector.evaluation.experiment import load_experiment

    experiment = load_experiment("lenet-mnist", train_limit=1000, test_limit=300)
    again = load_experiment("lenet-mnist", train_limit=1000, test_limit=300)
    assert (len(experiment.train), len(experiment.val), len(experiment.test)) == (1000, 500, 300)
    assert experiment.subset_of == {"train": 3500, "test": 1000}
    assert (experiment.test.images == again.test.images).all()  # seeded: the same subset every time
    bench = run_benchmark(experiment, ["msp"], ["gaussian"], model_name="lenet-mnist", echo=lambda _: None)
    text = write_report(bench, tmp_path / "report.md")[0].read_text()
    assert "test 300 images (train: a seeded subset of the 3,500-image split; test: a seeded subset of the " \
           "1,000-image split)" in text
    with pytest.raises(ValueError, match="--test-limit must be at least 100"):
        load_experiment("lenet-mnist", test_limit=50)


def test_report_splits_kinds_and_gives_their_means(tiny_experiment, tmp_path):
    """digits is the ID set here: MNIST looks like it (near-OOD), Fashion-MNIST does not (far-OOD)."""
    from detector.anomalies import report_kind
    from detector.evaluation.report import kind_means

    assert report_kind("fashion-mnist", "ood", "mnist") == "far-ood" and report_kind("digits", "ood", "mnist") == "near-ood"
    assert [report_kind(n, k, "mnist") for n, k in (("fooling", "noise"), ("fgsm", "adversarial"), ("x", "file"))] == [
        "noise", "adversarial", "file"]
    sets = ["gaussian", "fashion-mnist", "fgsm", "mnist", "uniform"]
    bench = run_benchmark(tiny_experiment, ["msp", "energy"], sets, echo=lambda _: None)
    text = write_report(bench, tmp_path / "kinds.md")[0].read_text()
    titles = [line for line in text.splitlines() if line.startswith("### ") and "(per-class)" in line]
    assert [t.split(":")[0] for t in titles] == (
        ["### Mean per kind"] * 2 + ["### Near-OOD (look-alike inputs)"] * 2
        + ["### Far-OOD (other datasets, paper Tables 2 and 5)"] * 2 + ["### Noise (NS, paper Tables 4 and 7)"] * 2
        + ["### Adversarial (AD, paper Tables 3 and 6)"] * 2)
    assert "near-OOD: mnist; far-OOD: fashion-mnist; noise: gaussian, uniform; adversarial: fgsm." in text
    assert "| method | near-OOD | far-OOD | noise | adversarial |" in text
    assert "| method | gaussian | uniform | mean |" in text and "| method | mnist |" in text
    rows = {(r.method, r.anomaly): r.auroc for r in bench.rows if r.weighting == "per-class"}
    means = kind_means(bench)
    for method in ("msp", "energy"):
        noise = (rows[method, "gaussian"] + rows[method, "uniform"]) / 2
        assert means[method] == {"near-ood": rows[method, "mnist"], "far-ood": rows[method, "fashion-mnist"],
                                 "noise": noise, "adversarial": rows[method, "fgsm"]}
        noise_line = [line for line in text.split("### Noise")[2].splitlines() if line.startswith(f"| {method} |")][0]
        assert noise_line.rstrip(" |").endswith(f"{noise:.2f}") or f"**{noise:.2f}**" in noise_line  # the mean column


def test_update_recomputes_only_the_named_methods(tiny_experiment, tmp_path):
    from dataclasses import replace

    from detector.errors import DataError
    from detector.evaluation.report_update import update_report

    quiet = {"model_name": "lenet-mnist", "echo": lambda _: None}
    first = run_benchmark(tiny_experiment, ["msp", "energy", "knn"], ["gaussian"], **quiet)
    committed = write_report(first, tmp_path / "report.md")[0]
    again = run_benchmark(tiny_experiment, ["energy"], ["gaussian"], **quiet)
    again.rows = [replace(row, auroc=12.34) for row in again.rows]  # as if energy had changed
    merged = update_report(committed, [again], ["energy"])[0]
    assert [row.method for row in merged.rows] == [row.method for row in first.rows]  # the report's order
    assert [row.auroc for row in merged.rows if row.method == "energy"] == [12.34, 12.34]
    assert [row for row in merged.rows if row.method != "energy"] == [row for row in first.rows if row.method != "energy"]
    assert list(merged.method_seconds) == ["msp", "energy", "knn"]
    assert "Rows of energy computed again" in merged.notes[-1] and "generated " in merged.notes[-1]
    text = write_report(merged, tmp_path / "updated.md")[0].read_text()
    assert "12.34" in text and "Rows of energy computed again" in text

    fewer = run_benchmark(tiny_experiment, ["energy"], ["uniform"], **quiet)
    with pytest.raises(DataError, match="energy on gaussian"):  # its gaussian cells would be lost
        update_report(committed, [fewer], ["energy"])
    with pytest.raises(DataError, match="regenerate the whole report"):  # a report of another model
        update_report(committed, [replace(again, model="lenet-fashion-mnist")], ["energy"])
    (tmp_path / "broken.json").write_text("{")
    forged = json.loads(committed.with_suffix(".json").read_text()) | {"weights_hash": "0" * 20}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(DataError, match="regenerate the whole report"):  # the same model name, other weights
        update_report(tmp_path / "forged.md", [again], ["energy"])
    with pytest.raises(DataError, match="cannot read its rows"):
        update_report(tmp_path / "broken.md", [again], ["energy"])


def test_committed_cells_are_those_of_the_network_that_made_them(tiny_experiment, tmp_path):
    from detector.evaluation.committed import committed_report

    bench = run_benchmark(tiny_experiment, ["msp"], ["gaussian"], model_name="lenet-mnist", echo=lambda _: None)
    write_report(bench, tmp_path / "results-lenet-mnist.md")
    weights = tiny_experiment.model.weights_hash
    assert json.loads((tmp_path / "results-lenet-mnist.json").read_text())["weights_hash"] == weights
    report = committed_report("lenet-mnist", docs=tmp_path, weights_hash=weights)
    assert report is not None and report.cell("msp", "gaussian")
    assert committed_report("lenet-mnist", docs=tmp_path, weights_hash="0" * 20) is None  # retrained weights
