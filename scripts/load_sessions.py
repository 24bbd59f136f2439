"""A classroom on one dashboard server: N browser sessions at once.

    .venv/bin/python scripts/load_sessions.py [--sessions 20] [--seconds 60] [--seed 0] [--points 300] [--log FILE]
    .venv/bin/python scripts/load_sessions.py --warm --lone-first   # a class after the teacher's warm-up
    .venv/bin/python scripts/load_sessions.py --warm --lone-first --think 2 6   # students reading between actions
    .venv/bin/python scripts/load_sessions.py --warm --lone-first --server-core   # browsers as if elsewhere

Starts the real server (``python -m dashboard``, preloading as by default) on a free localhost port,
with a cache folder of its own whose datasets/, models/, adversarial/, fooling/ and projections/ link
to the project's cache/ (nothing is retrained); features/, detectors/ and scores/ start empty, so the
sessions compute them at the same time (``--warm``: they link too, as after a teacher's warm-up; a run
with ``--warm`` fills them). ``--lone-first``: one session alone on a server first, then the N on a
fresh one, and each action's p95 of the N over its p50 alone. Opens N sessions at once, each its own Chromium context in
one browser; once its first view is shown, each starts rounds for ``--seconds``: on Start, pick anomaly sets in the
sidebar (a seeded choice per session), open Explore (until both projections are drawn), open Tune
(until its metrics show), then move β₂ or β₃ three times (key press -> new numbers drawn; "β answer": the
part before the drawing, from the rerun request to the frame with the first new number, timed by Chromium's
network process; it shares the cores with the tabs, so under load it is an upper bound on the server's time).

Prints p50 / p95 of each action, then checks, and exits 1 on any problem:
- numbers: every (sets, β₂, β₃, ν) a session saw on Tune must show the same metrics in every session,
  and equal those of a single session alone (Streamlit's AppTest in this process afterwards, with a
  cache of its own where only datasets/ and models/ are linked: every number recomputed);
- the server's log (its stdout and stderr): "Uncaught app execution", tracebacks, exception lines;
- exceptions shown on a page, and actions that timed out.
Needs /usr/bin/chromium and a trained lenet-mnist in cache/ (else the server trains it first).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_sessions import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    REUSED,
    ROOT,
    ChildCpu,
    fresh_cache,
    log_errors,
    percentile,
    running_app,
)
from tab_actions import (  # noqa: E402
    CHANGED_JS,
    CHARTS,
    EXCEPTION,
    METRICS,
    WAIT_MS,
    AnswerClock,
    beta_value,
    caption,
    idle,
    open_page,
    pick_sets,
    shown,
    shown_key,
    shown_sets,
    slider,
)

POOL = ("fashion-mnist", "digits", "gaussian", "uniform")  # sets that load in seconds
COMBOS = [c for k in (1, 2, 3) for c in itertools.combinations(POOL, k)]
ACTIONS = ("first load", "set pick", "Explore open", "Tune open", "β move", "β answer")

async def session(browser, url: str, n: int, args, times: dict, seen: dict, problems: list) -> None:
    """Session ``n``'s rounds (``args``: the command line's --seed, --seconds and --think)."""
    rng, action = random.Random(args.seed * 1000 + n), "first load"
    reading = random.Random(args.seed * 1000 + n + 500)  # its own draws: the sets and β moves stay those without pauses
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    tab = await context.new_page()
    clock = await AnswerClock.attach(tab)

    async def timed(name, *steps):
        nonlocal action
        if name != "first load" and args.think[1] > 0:
            await asyncio.sleep(reading.uniform(*args.think))  # a student reading the page before the next action
        action, start = name, time.perf_counter()
        for step in steps:
            await step()
        times[name].append(time.perf_counter() - start)

    async def record():  # the metrics, once the run of the β the sliders show has drawn them
        key = await shown_key(tab)
        await tab.wait_for_function(CHANGED_JS, arg=[None, caption(float(key[1]), float(key[2]))], polling=50)
        await idle(tab)
        values = tuple(await tab.locator(METRICS).all_inner_texts())
        if await shown_key(tab) == key:
            seen[key].append((n, values))
        mdl = await tab.locator('[data-testid="stSelectbox"]', has_text="MDL (Most").locator("input").input_value()
        if "★" not in mdl:  # nobody picks another layer here
            problems.append(f"session {n}: the sidebar's MDL is {mdl!r}, not the chosen one (★)")

    try:
        await timed("first load", lambda: tab.goto(url), lambda: tab.get_by_role("heading", name="Start here").first.wait_for(),
                    lambda: idle(tab))
        until = time.time() + args.seconds  # of rounds, from this session's first view; one at least
        for round_ in itertools.count():
            if round_ and time.time() >= until:
                break
            if round_:
                action = "back to Start"
                await open_page(tab, "Start", "Start here")
                await idle(tab)
            sets = COMBOS[(n + 5 * round_) % len(COMBOS)] if round_ < 2 else rng.choice(COMBOS)
            await timed("set pick", lambda: pick_sets(tab, sets))
            if await shown_sets(tab) != sets:
                problems.append(f"session {n}: picked {sets}, the sidebar shows {await shown_sets(tab)}")
            await timed("Explore open", lambda: open_page(tab, "Explore layers", "Explore layers"),
                        lambda: shown(tab, CHARTS, 2))
            await idle(tab)
            await timed("Tune open", lambda: open_page(tab, "Tune", "Tune β and ν"),
                        lambda: shown(tab, METRICS, 4))
            await record()
            for _ in range(3):
                label = rng.choice(["β₂", "β₃"])
                value = float(await beta_value(tab, label))
                key = rng.choice({0.0: ["End", "ArrowRight"], 1.0: ["Home", "ArrowLeft"]}.get(value, ["Home", "End"]))
                new = {"Home": 0.0, "End": 1.0, "ArrowRight": value + 0.05, "ArrowLeft": value - 0.05}[key]
                other = float(await beta_value(tab, "β₃" if label == "β₂" else "β₂"))
                other = min(other, round(1.0 - new, 2))  # the other slider gives way (Tune keeps β₂ + β₃ ≤ 1)
                after = caption(*((new, other) if label == "β₂" else (other, new)))
                before = ",".join(await tab.locator(METRICS).all_text_contents())
                await slider(tab, label).focus()
                await clock.start()
                await timed("β move", lambda: slider(tab, label).press(key),
                            lambda: tab.wait_for_function(CHANGED_JS, arg=[before, after], polling=50))
                answer = await clock.stop()
                if answer is not None:
                    times["β answer"].append(answer)
                await record()
            if await tab.locator(EXCEPTION).count():
                raise RuntimeError(f"the page shows an exception: {(await tab.locator(EXCEPTION).first.inner_text())[:300]}")
    except Exception as error:
        problems.append(f"session {n}, {action}: {type(error).__name__}: {str(error).splitlines()[0][:300]}")
    finally:
        await context.close()


async def run(url: str, sessions: int, args, times: dict, seen: dict, problems: list) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        work = asyncio.gather(*(session(browser, url, n, args, times, seen, problems) for n in range(sessions)))
        limit = args.seconds + 4 * WAIT_MS / 1000
        try:
            await asyncio.wait_for(work, limit)
        except TimeoutError:
            problems.append(f"the sessions did not finish within {limit:.0f} s")
        await browser.close()


def reference(keys: list[tuple], points: int) -> dict[tuple, tuple]:
    """The metrics a single session alone shows for each (sets, β₂, β₃, ν): AppTest, in this process,
    in a fresh cache where only datasets/ and models/ are linked."""
    from streamlit.testing.v1 import AppTest

    from dashboard.model_loading import DEFAULT_MODEL
    from dashboard.sidebar import navigation_only_in_apptest

    found = {}
    with fresh_cache(reused=("datasets", "models")) as cache_dir, navigation_only_in_apptest():
        os.environ.update(ANOMALY_CACHE_DIR=str(cache_dir), DASHBOARD_POINTS=str(points))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.run()
        at.switch_page("pages/tune.py").run()
        for key in sorted(keys):
            sets, beta2, beta3, nu = key
            at.multiselect(key=f"_sets:{DEFAULT_MODEL}").set_value(list(sets))
            at.slider(key="_beta").set_value(float(beta2))
            at.slider(key="_beta_conf").set_value(float(beta3))
            at.select_slider(key="_nu").set_value(float(nu))
            at.run()
            found[key] = tuple(m.value for m in at.metric) if not at.exception else ("exception", at.exception[0].value)
    return found


def phase(args, sessions: int, seen: dict, problems: list) -> dict:
    """``sessions`` browser sessions on a server of their own; prints their table, returns their times."""
    times, started = defaultdict(list), time.time()
    project_cache = Path(os.environ.get("ANOMALY_CACHE_DIR") or ROOT / "cache")  # --warm: every family of it
    reused = (tuple(dict.fromkeys([*REUSED, "projections", "tuned", *(p.name for p in project_cache.glob("*/"))]))
              if args.warm else ("datasets", "models", "adversarial", "fooling", "projections"))
    with tempfile.TemporaryDirectory() as tmp, fresh_cache(reused=reused) as cache_dir:
        log_path = args.log or Path(tmp) / "server.log"
        cores = sorted(os.sched_getaffinity(0))
        if args.server_core:  # the server started next inherits the first core; Playwright and Chromium the rest
            os.sched_setaffinity(0, cores[:1])
        with ChildCpu() as meter, running_app({"ANOMALY_CACHE_DIR": str(cache_dir), "DASHBOARD_POINTS": str(args.points)},
                                              log_path, start_timeout=240) as url:
            os.sched_setaffinity(0, cores[1:] if args.server_core else cores)
            asyncio.run(run(url, sessions, args, times, seen, problems))
            load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        os.sched_setaffinity(0, cores)
        server_errors = log_errors(log_path.read_text())
    cpu = meter.seconds()
    print(f"{sessions} session(s) on one server, rounds for {args.seconds:.0f} s each, "
          f"all done after {time.time() - started:.0f} s ({os.cpu_count()} cores, load average {load} then); "
          f"CPU time: the browser {cpu['browser']:.0f} s, the server {cpu['server']:.0f} s, "
          f"Playwright's driver {cpu['other']:.0f} s")
    print(f"{'action':14} {'count':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for name in ACTIONS:
        if times[name]:
            print(f"{name:14} {len(times[name]):5d} {percentile(times[name], 0.5):7.2f} "
                  f"{percentile(times[name], 0.95):7.2f} {max(times[name]):7.2f}")
    print(f"server log: {len(server_errors)} error(s)" + "".join(f"\n{server_errors.count(e)}x {e}" for e in
                                                                  dict.fromkeys(server_errors)))
    problems += [f"server log, {server_errors.count(e)}x: {e.splitlines()[-1]}" for e in dict.fromkeys(server_errors)]
    if not times["β move"]:
        problems.append(f"no session of {sessions} moved β")
    return times


def ratios(lone: dict, many: dict, sessions: int) -> None:
    """Each action's p95 with many sessions over its p50 alone."""
    for name in ("β move", "β answer", "Explore open", "Tune open"):
        if lone[name] and many[name]:
            alone, crowd = percentile(lone[name], 0.5), percentile(many[name], 0.95)
            print(f"{name}: p95 of {sessions} sessions {crowd:.2f} s = {crowd / alone:.1f} × the lone p50 {alone:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60,
                        help="a session starts rounds until this long after its first view (one at least)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=300, help="inputs per set in projections (the app's default)")
    parser.add_argument("--lone-first", action="store_true",
                        help="first one session alone on its own server, then --sessions; prints each action's "
                             "p95 with --sessions over its p50 alone")
    parser.add_argument("--warm", action="store_true",
                        help="use the whole project cache (a teacher's warm cache; features, detectors and scores "
                             "too) instead of computing them during the run")
    parser.add_argument("--think", type=float, nargs=2, default=(0.0, 0.0), metavar=("MIN", "MAX"),
                        help="seconds each session pauses before each action, drawn between MIN and MAX (a class reads "
                             "the page; the default 0 0 has every session act at once)")
    parser.add_argument("--server-core", action="store_true",
                        help="the server on a core of its own and the browsers on the others, as if the browsers "
                             "ran on the students' computers")
    parser.add_argument("--log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args()
    if args.server_core and len(os.sched_getaffinity(0)) < 2:
        parser.error("--server-core needs two cores at least")
    seen, problems = defaultdict(list), []
    lone = phase(args, 1, seen, problems) if args.lone_first else None
    many = phase(args, args.sessions, seen, problems)
    if lone is not None:
        ratios(lone, many, args.sessions)
    for key, readings in sorted(seen.items()):
        if len({values for _, values in readings}) > 1:
            problems.append(f"sessions disagree on {key}: {sorted(set(readings))}")
    started = time.time()
    try:
        alone = reference(list(seen), args.points)
    except Exception as error:
        alone = {}
        problems.append(f"the single session alone failed: {type(error).__name__}: {error}")
    differ = [f"{key}: session {n} showed {values}, a session alone {alone[key]}"
              for key, readings in sorted(seen.items()) for n, values in readings if key in alone and values != alone[key]]
    print(f"numbers: {sum(map(len, seen.values()))} readings of {len(seen)} (sets, β₂, β₃, ν) choices; "
          f"every session's equal to a single session's: {'yes' if not differ else f'no, {len(differ)} differ'} "
          f"(the single session took {time.time() - started:.0f} s)")
    problems += differ
    for problem in problems:
        print(f"problem: {problem}")
    print("no problems" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
