"""Time the first Explore view of a fresh server (goal: <= 5 s when requested 15 s after it is healthy).

    .venv/bin/python scripts/benchmark_first_view.py [--runs 3] [--wait 15] [--empty-projections] [--no-preload]
    .venv/bin/python scripts/benchmark_first_view.py --empty-cache --wait 0   # as after install (goal: <= 30 s)

Each run starts a fresh ``python -m dashboard`` on a free port, with a cache folder linking to the
project's cache (or $ANOMALY_CACHE_DIR): the model trained, the detector fitted, features and
projections on disk, as after a first run (``--empty-projections``: projections/ starts empty, so
the two UMAPs are fitted). Once /_stcore/health answers ok it waits ``--wait`` seconds, opens
Explore in headless Chromium and prints the seconds until both projection charts are drawn, with
the load average and the server's own account of its preload; then the same in a second browser
session (all of it warm), for comparison. ``--empty-cache``: every cache family starts empty, as
right after install (datasets parsed, shipped weights checked, detector fitted, UMAPs fitted); the
seconds from launching the server are printed too. ``--no-preload`` sets
DASHBOARD_PRELOAD=0 (the server then only warms UMAP's JIT), to compare. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_sessions import CHROMIUM, CHROMIUM_ARGS, fresh_cache, running_app  # noqa: E402

CHART = '[data-testid="stVegaLiteChart"] canvas'


def _explore(browser, url: str) -> tuple[float, list[str]]:
    """Seconds from requesting Explore in a new browser session to both projections drawn; exceptions shown."""
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    start = time.perf_counter()
    tab.goto(f"{url}/explore")
    tab.get_by_role("heading", name="Explore layers").first.wait_for(timeout=600_000)
    tab.wait_for_function(f"document.querySelectorAll('{CHART}').length >= 2", timeout=600_000)
    seconds = time.perf_counter() - start
    return seconds, tab.locator('[data-testid="stException"]').all_inner_texts()


def first_view(points: int, wait: float, keep_projections: bool = True, preload: bool = True,
               empty: bool = False) -> tuple[float, float, str]:
    """Seconds from requesting Explore (``wait`` s after a fresh server is healthy) to both projections
    drawn, and from launching the server to the same; the server's preload line, with the seconds of
    a second session's Explore. ``empty``: every cache family starts empty."""
    from playwright.sync_api import sync_playwright

    env = {"DASHBOARD_POINTS": str(points), "DASHBOARD_PRELOAD": "1" if preload else "0"}
    reused = {"reused": ()} if empty else {}
    with tempfile.TemporaryDirectory() as tmp, fresh_cache(keep_projections and not empty, **reused) as cache_dir:
        log_path = Path(tmp) / "server.log"
        launched = time.time()
        with running_app({**env, "ANOMALY_CACHE_DIR": str(cache_dir)}, log_path, start_timeout=240) as url:
            healthy = time.time()
            time.sleep(wait)  # healthy, nobody has visited yet: the server preloads meanwhile
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                seconds, exceptions = _explore(browser, url)
                from_launch = time.time() - launched
                again, _ = _explore(browser, url)  # a second session, for comparison: all of it warm
                browser.close()
            server_log = log_path.read_text()
    if exceptions:
        raise RuntimeError(f"the Explore page showed an exception: {exceptions}")
    found = re.search(r"^(\S+ \S+) .*?((first view preloaded|preloading the first view failed).*)$", server_log, re.M)
    warm = f"a second session's Explore {again:.1f} s"
    if not found:
        return seconds, from_launch, f"no preload line in the server's log; {warm}"
    done = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S.%f").timestamp() - healthy
    return seconds, from_launch, f"{found[2]}; done {done:.1f} s after health; {warm}"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wait", type=float, default=15.0, help="seconds between a fresh server's health and Explore")
    parser.add_argument("--points", type=int, default=300, help="inputs per set in projections (the app's default)")
    parser.add_argument("--empty-projections", action="store_true", help="start with no projection on disk")
    parser.add_argument("--no-preload", action="store_true", help="DASHBOARD_PRELOAD=0: only UMAP's JIT is warmed")
    parser.add_argument("--empty-cache", action="store_true", help="every cache family empty, as after install")
    args = parser.parse_args()
    what = ("empty cache" if args.empty_cache else "empty projection cache" if args.empty_projections
            else "projections on disk") + (", no preload" if args.no_preload else "")
    times, from_launch = [], []
    for run in range(args.runs):
        before = load_average()
        seconds, launched, preloaded = first_view(args.points, args.wait, not args.empty_projections,
                                                  not args.no_preload, args.empty_cache)
        times.append(seconds)
        from_launch.append(launched)
        print(f"run {run + 1}: Explore requested {args.wait:g} s after a fresh server is healthy ({what}): "
              f"{seconds:.1f} s, {launched:.1f} s from launching the server  (load average {before} before, "
              f"{load_average()} after)\n  server: {preloaded}", flush=True)
    print(f"first Explore view, {what}: median {statistics.median(times):.1f} s, "
          f"{min(times):.1f}-{max(times):.1f} s over {len(times)} runs  (goal <= 5 s at 15 s); from launching "
          f"the server: median {statistics.median(from_launch):.1f} s (goal after install <= 30 s)")


if __name__ == "__main__":
    main()
