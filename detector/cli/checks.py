"""What the command line checks and reads before any model is loaded or fitted: parameters, output paths,
anomaly sets and input files, so that a bad argument fails in a second, not after a long run."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..anomalies import anomaly_kinds
from ..errors import DataError, printable
from ..inputs.images import require_file

if TYPE_CHECKING:
    import numpy as np


def candidates_option(args) -> dict:
    """``candidates`` for fit_uniform: none for the default, so that cached detectors and benchmark
    cells keyed before the option existed are found again."""
    return {} if args.candidates == "blocks" else {"candidates": args.candidates}


def check_detector_params(args) -> None:
    """beta and nu are checked before any model or cache is touched (a bad beta once deleted a cached detector)."""
    from ..method.uniform import UniformDetector

    UniformDetector.check_beta(args.beta)
    UniformDetector.check_nu(args.nu)


def check_output(path: str | Path | None) -> None:
    """Refuse an output file that cannot be written before a long run, not after it."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise DataError(f"output {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: the folder {path.parent} does not exist")
    if path.exists():  # written in place (truncated): the file itself must be writable
        if not os.access(path, os.W_OK):
            raise DataError(f"cannot write {path}: the file is not writable")
    elif not os.access(path.parent, os.W_OK):
        raise DataError(f"cannot write {path}: the folder {path.parent} is not writable")


def report_outputs(output: str) -> list[Path]:
    """The files ``report -o output`` writes (write_report): the Markdown and the .csv and .json beside it."""
    path = Path(output)
    if path.suffix.lower() in (".csv", ".json"):
        raise DataError(f"-o {output}: give the Markdown file (e.g. {path.with_suffix('.md')}); "
                        "the .csv and .json are written beside it")
    return [path, path.with_suffix(".csv"), path.with_suffix(".json")]


def check_inputs(paths, what: str = "file") -> None:
    """Every input file exists and is a regular file, before any model is loaded or fitted."""
    for path in paths:
        require_file(path, what)


def check_anomalies(args) -> None:
    if not args.anomaly and not args.anomaly_file:
        raise DataError("give at least one --anomaly NAME or --anomaly-file NAME=path.npz")
    kinds = anomaly_kinds()
    unknown = [name for name in args.anomaly if name not in kinds]
    if unknown:
        raise DataError(f"unknown anomaly set(s) {', '.join(unknown)}; valid names: {', '.join(kinds)}")
    names = [*args.anomaly, *(name for name, _path in args.anomaly_file)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # rows are keyed by name: the second set's rows were the first's, printed twice
        raise DataError(f"anomaly set name(s) given more than once: {', '.join(twice)}; "
                        "give each --anomaly / --anomaly-file NAME=path.npz its own name")
    for name, path in args.anomaly_file:  # a folder of pictures, or an .npz file
        if not Path(path).is_dir():
            require_file(path, f"--anomaly-file {name}")


def read_inputs(paths: list[str], input_shape, invert: bool | None, mnist_style: bool = True
                 ) -> list[tuple[str, "np.ndarray"]]:
    """(file name, images) per file, all read before the detector is fitted or loaded; notes go to stderr."""
    from ..inputs.images import load_image_file, numpy_format
    from ..inputs.uploads import read_file, read_upload

    inputs = []
    for path in map(require_file, paths):
        data = read_file(path)  # sizes from the file's size and header before it is read
        if numpy_format(data[:8]) == ".npz":
            images, notes = load_image_file(path, input_shape), []
        else:
            images, notes = read_upload(str(path), data, input_shape, invert, max_bytes=None, mnist_style=mnist_style)
        for note in notes:
            print(f"{printable(path)}: {note}", file=sys.stderr)
        inputs.append((printable(path), images))
    return inputs
