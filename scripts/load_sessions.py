"""Several browser sessions at once against one dashboard server (issue 12, item 9).

    .venv/bin/python scripts/load_sessions.py [--sessions 8] [--seconds 60]

Each session (its own Chromium context, so its own Streamlit session) opens the Tune page and,
until time is up, moves the beta slider, every other round nu, and each round switches to
another page and back. It prints p50/p95 from a beta key press to new numbers under that load, and fails
(exit 1) when a session showed an exception, found another session's beta or nu on its
sliders, or when a file in the disk cache no longer reads back.

The server gets a cache folder whose models/ and features/ link to the project's cache/
(nothing is retrained) and whose detectors/ and projections/ start empty, so that the sessions
write them concurrently. Needs /usr/bin/chromium and a trained lenet-mnist in cache/.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from benchmark_app import CHROMIUM_ARGS, start_server  # noqa: E402  (one server start for both scripts)

METRICS = '[data-testid="stMetricValue"]'
OTHER_PAGES = ["Layers", "How it works", "Benchmark"]


async def metric_text(tab) -> str:
    return ",".join(await tab.locator(METRICS).all_inner_texts())


async def idle(tab, quiet: float = 0.3, timeout: float = 300) -> None:
    """Until the 'running' widget has been gone for ``quiet`` seconds."""
    deadline, calm = time.time() + timeout, None
    while time.time() < deadline:
        if await tab.locator('[data-testid="stStatusWidget"]').count():
            calm = None
        elif calm is None:
            calm = time.time()
        elif time.time() - calm >= quiet:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the app kept running")


async def open_tune(tab) -> None:
    await tab.get_by_role("link", name="Tune").first.click()
    await tab.locator(METRICS).first.wait_for(timeout=300_000)
    await idle(tab)


def slider(tab, label: str):
    return tab.locator('[data-testid="stSlider"]', has_text=label).get_by_role("slider")


async def session(browser, url: str, number: int, seconds: float, ready: asyncio.Barrier, latencies: list,
                  problems: list) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(600_000)  # eight first loads at once on two cores take minutes
    tab = await context.new_page()
    rng = random.Random(number)
    try:
        await tab.goto(url)
        await tab.get_by_role("link", name="Tune").first.wait_for()
        await open_tune(tab)
    except Exception:
        await ready.abort()  # the others must not wait for this one
        raise
    await ready.wait()  # the minute of load starts when every session is on the Tune page
    until = time.time() + seconds
    mine = {}
    steps = 0
    while time.time() < until:
        beta = slider(tab, "β₂")
        before = await metric_text(tab)
        key = "End" if await beta.get_attribute("aria-valuenow") in ("0", "0.0") else rng.choice(["Home", "ArrowLeft"])
        await beta.focus()
        start = time.perf_counter()
        await beta.press(key)
        try:
            await tab.wait_for_function(f"(b) => [...document.querySelectorAll('{METRICS}')].map(e => e.innerText)"
                                        ".join() !== b", arg=before, timeout=120_000)
            latencies.append(time.perf_counter() - start)
        except Exception:  # equal numbers for two betas are possible: not a latency sample
            pass
        await idle(tab)
        mine["beta"] = await beta.get_attribute("aria-valuenow")
        steps += 1
        if steps % 2 == 1:  # nu: refits (cached on disk after the first session that asks)
            nu = slider(tab, "ν")
            await nu.focus()
            await nu.press(rng.choice(["ArrowLeft", "ArrowRight"]))
            await idle(tab)
            mine["nu"] = await slider(tab, "ν").get_attribute("aria-valuetext")
        # another page and back: this session's choices must come back, not another's
        await tab.get_by_role("link", name=rng.choice(OTHER_PAGES)).first.click()
        await idle(tab)
        await open_tune(tab)
        seen = {"beta": await slider(tab, "β₂").get_attribute("aria-valuenow")}
        if "nu" in mine:
            seen["nu"] = await slider(tab, "ν").get_attribute("aria-valuetext")
        if seen != mine:
            problems.append(f"session {number}: set {mine}, found {seen} after a page switch")
        if await tab.locator('[data-testid="stException"]').count():
            problems.append(f"session {number}: an exception is shown: "
                            f"{(await tab.locator('[data-testid=stException]').first.inner_text())[:300]}")
            break
    await context.close()


def unreadable_cache_files(cache_dir: Path) -> list[str]:
    """Files of the cache that do not read back (checked without removing anything)."""
    import numpy as np
    import skops.io as sio

    bad = []
    for path in sorted(cache_dir.rglob("*")):
        if path.is_dir() or path.name.startswith("."):
            continue
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as data:
                    [data[name] for name in data.files]
            elif path.suffix == ".skops":
                sio.load(path, trusted=sio.get_untrusted_types(file=path))
        except Exception as error:
            bad.append(f"{path}: {type(error).__name__}: {error}")
    return bad


async def run(url: str, sessions: int, seconds: float) -> tuple[list, list]:
    from playwright.async_api import async_playwright

    latencies, problems = [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        warm = await browser.new_page()  # the first session loads the model and fits the detector alone
        await warm.goto(url, timeout=600_000)
        await warm.get_by_role("link", name="Tune").first.wait_for(timeout=600_000)
        await warm.close()
        ready = asyncio.Barrier(sessions)
        results = await asyncio.gather(*(session(browser, url, n, seconds, ready, latencies, problems)
                                         for n in range(sessions)), return_exceptions=True)
        problems += [f"session {n}: {type(r).__name__}: {r}" for n, r in enumerate(results) if isinstance(r, Exception)]
        await browser.close()
    return latencies, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--points", type=int, default=300, help="inputs per set in projections")
    args = parser.parse_args()
    project_cache = ROOT / "cache"
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        for sub in ("models", "features", "attacks", "fooling"):
            (project_cache / sub).mkdir(parents=True, exist_ok=True)
            (cache_dir / sub).symlink_to(project_cache / sub)
        process, url = start_server(cache_dir, args.points)
        try:
            latencies, problems = asyncio.run(run(url, args.sessions, args.seconds))
        finally:
            process.terminate()
            process.wait(timeout=30)
        problems += [f"unreadable cache file {line}" for line in unreadable_cache_files(cache_dir)]
    if latencies:
        ms = sorted(1000 * t for t in latencies)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        print(f"{args.sessions} sessions, {args.seconds:.0f} s: {len(ms)} beta changes; key press -> new numbers "
              f"p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms")
    for problem in problems:
        print(f"problem: {problem}")
    print("no problems" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems or not latencies else 0)


if __name__ == "__main__":
    main()
