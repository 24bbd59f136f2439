"""What long work shows while it runs: a status box the first time this server loads something, and a
progress bar (rate and time left) for every pass over an image folder.

The passes are made by the detector inside the shared, cached loaders; the experiment calls the
callback it was given (:func:`report_folder_pass`, passed to ``load_experiment`` by
:mod:`dashboard.loaders`), which draws into the bar of the session whose run is making the pass.
"""

from __future__ import annotations

import threading
import time

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from .messages import literal
from .state import FOLDER_BAR

_READY: set = set()  # keys of resources already loaded in this server process


def is_ready(key: tuple) -> bool:
    """Whether this server has loaded ``key`` with :func:`with_status` before (then it comes from memory)."""
    return key in _READY


def mark_ready(*keys: tuple) -> None:
    """Record ``keys`` as loaded in this server (shown once, by whoever loaded them)."""
    _READY.update(keys)


def with_status(label: str, key: tuple, load):
    """``load()``, shown as an st.status box the first time this server loads ``key``."""
    if key in _READY:
        return load()
    slot = st.empty()
    try:
        with slot.status(label, expanded=False):
            value = load()
    finally:
        slot.empty()  # on an error too: the caller's message takes the box's place
    _READY.add(key)
    return value


class FolderBar:
    """A progress bar in one slot of a page, for the passes over image folders of one run."""

    def __init__(self, slot):
        self.slot, self.started = slot, {}

    def draw(self, done: int, total: int, what: str) -> None:
        begun = self.started.setdefault(what, time.perf_counter() - 1e-6)
        if done >= total:
            self.started.pop(what, None)
            self.slot.empty()
            return
        rate = done / (time.perf_counter() - begun)
        self.slot.progress(done / total, text=literal(f"{what}: {done:,} / {total:,} pictures · {rate:,.0f} per second · "
                                                      f"about {(total - done) / rate:,.0f} s left"))


def start_folder_bar() -> None:
    """At the top of a run: the slot where this run's passes over image folders draw their bar."""
    FOLDER_BAR.set(FolderBar(st.empty()))


def report_folder_pass(done: int, total: int, what: str) -> None:
    """The ``progress`` callback of the dashboard's experiments: draws into the bar of the session that runs now.

    The pass runs inside a cached loader, and Streamlit records what a cached function draws in order to
    replay it on later cache hits, which fails for a slot made outside the function. The bar belongs to
    this run, not to the cached result, so it is drawn by a short thread given this run's context, where
    no recording is under way (how docs.streamlit.io/develop/concepts/design/multithreading shows drawing
    from another thread; the run waits for it, so only one thread draws at a time)."""
    bar = FOLDER_BAR.get()
    if bar is None:
        return
    drawer = threading.Thread(target=bar.draw, args=(done, total, what), name="folder-bar")
    add_script_run_ctx(drawer, get_script_run_ctx())
    drawer.start()
    drawer.join()


def train_with_bar(model: str, estimate, train) -> None:
    """A built-in model's first use: say what will happen and how long it takes (``estimate``), then run
    ``train(on_step)`` with a progress bar (rate and time left); the message stays, with the time it took."""
    notice = st.empty()
    notice.info(estimate.describe())
    bar, started, shown = st.progress(0.0), time.monotonic(), [0.0]

    def on_step(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        if elapsed - shown[0] < 0.5 and done < total:  # a redraw per step would slow training down
            return
        shown[0] = elapsed
        left = elapsed * (total - done) / done
        bar.progress(done / total, text=f"Training {model}: {done:,} of {total:,} images, {done / elapsed:,.0f} images/s, "
                                        f"about {left:.0f} s left")

    train(on_step)
    bar.empty()
    notice.info(f"{estimate.describe()} Training took {time.monotonic() - started:.0f} s.")
