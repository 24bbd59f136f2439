"""What the browser benchmarks share (scripts/benchmark_app.py, benchmark_first_view.py, load_sessions.py):
a cache folder linking to the project's and the server's log read for errors. The server itself, and the
wait for a page to stop running, come from :mod:`dashboard.server` (re-exported here), as in the browser
tests."""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dashboard.server import CHROMIUM, CHROMIUM_ARGS, IDLE_JS, PAGES, ROOT, RUNNING_JS, idle_arg, running_app, wait_idle  # noqa: E402,F401

#: the cache families a benchmark reuses from the project's cache (projections/ is the caller's choice)
REUSED = ("datasets", "models", "features", "detectors", "scores", "adversarial", "fooling", "baselines", "benchmark")


@contextmanager
def fresh_cache(keep_projections: bool = False, reused: tuple[str, ...] = REUSED):
    """A temporary cache folder whose ``reused`` families (and projections/ if ``keep_projections``)
    link to the project's cache (or $ANOMALY_CACHE_DIR); the others start empty."""
    project_cache = Path(os.environ.get("ANOMALY_CACHE_DIR") or ROOT / "cache")
    with tempfile.TemporaryDirectory() as tmp:
        for sub in (*reused, *(["projections"] if keep_projections else [])):
            (project_cache / sub).mkdir(parents=True, exist_ok=True)
            (Path(tmp) / sub).symlink_to(project_cache / sub)
        yield Path(tmp)


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ ")
_ERROR_LINE = re.compile(r"Uncaught app execution|^Traceback|\b[A-Z]\w*(Error|Exception)\b(:|$)")


def log_errors(text: str) -> list[str]:
    """Errors in a server's log: each "Uncaught app execution" or traceback with its last line (the
    exception), and any other line naming an exception."""
    lines, found, k = text.splitlines(), [], 0
    while k < len(lines):
        if not _ERROR_LINE.search(lines[k]):
            k += 1
            continue
        end = k + 1
        if "Uncaught app execution" in lines[k] or lines[k].startswith("Traceback"):
            while end < len(lines) and (lines[end].startswith((" ", "Traceback", "During handling", "The above"))
                                        or not lines[end].strip() or end == k + 1):
                end += 1
            end = min(end + 1, len(lines))  # the exception's own line
        block = [_STAMP.sub("", lines[k]), *lines[k + 1:end]]  # without its time: equal errors compare equal
        found.append("\n".join(block if len(block) <= 12 else [*block[:2], "  ...", *block[-9:]]))
        k = end
    return found


class ChildCpu:
    """CPU seconds of this process's descendants while it lasts, by kind: the dashboard's server, the
    browser (Chromium's processes) and the rest (Playwright's driver). Sampled every ``every`` seconds, each
    process counted at its last sample: ``getrusage`` counts only children that have exited and were waited
    for, and it missed most of Chromium's (its renderers are the browser's own children)."""

    def __init__(self, every: float = 0.5):
        self.every, self._last, self._stop = every, {}, threading.Event()
        self._before = {p.pid: self._used(p) for p in psutil.Process().children(recursive=True)}

    @staticmethod
    def _used(process) -> float:
        try:
            times = process.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return 0.0

    @staticmethod
    def kind(process) -> str:
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:
            return "other"
        if "-m dashboard" in command:
            return "server"
        return "browser" if "chrom" in process.name().lower() or "headless_shell" in command else "other"

    def _sample(self) -> None:
        for process in psutil.Process().children(recursive=True):
            used = self._used(process)
            if used:
                kind = self._last.get(process.pid, (self.kind(process), 0.0))[0]
                self._last[process.pid] = (kind, used - self._before.get(process.pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> "ChildCpu":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def seconds(self) -> dict[str, float]:
        total = {"server": 0.0, "browser": 0.0, "other": 0.0}
        for kind, used in self._last.values():
            total[kind] += used
        return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

