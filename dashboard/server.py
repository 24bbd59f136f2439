"""The app in a background server, and the Chromium to look at it: for the browser tests and the
browser benchmarks in scripts/ (one copy of the start-up, the flags, the page list and the wait for
a page to stop running)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's: `playwright install` cannot download browsers here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: (url path, page heading) of every page, in navigation order
PAGES = [("", "Start here"), ("explore", "Explore layers"), ("layers", "Layers"), ("tune", "Tune"), ("benchmark", "Benchmark"),
         ("inspect_input", "Inspect"), ("how_it_works", "How it works")]


#: true when the app is connected and its script has not been running for ``quiet`` ms (``token`` starts
#: a new wait); for ``tab.wait_for_function(IDLE_JS, arg=idle_arg(quiet), polling=50)``, sync or async.
#: It reads the state Streamlit's own tests read: the "running" widget shows only after a run's first
#: 500 ms, so a wait on the widget returned before short reruns had even begun
RUNNING_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !app || app.dataset.testScriptState !== 'notRunning' || app.dataset.testConnectionState !== 'CONNECTED';
})()"""
IDLE_JS = f"""({{quiet, token}}) => {{
  if (window.__idleToken !== token) {{ window.__idleToken = token; window.__calm = null; }}
  if ({RUNNING_JS}) {{ window.__calm = null; return false; }}
  if (window.__calm === null) window.__calm = performance.now();
  return performance.now() - window.__calm >= quiet;
}}"""
_tokens = iter(range(1 << 62))


def idle_arg(quiet: float = 0.5) -> dict:
    return {"quiet": 1000 * quiet, "token": next(_tokens)}


def wait_idle(tab, quiet: float = 0.5, timeout: float = 600) -> None:
    """Until the app has stopped running for ``quiet`` seconds (a sync Playwright page)."""
    tab.wait_for_function(IDLE_JS, arg=idle_arg(quiet), polling=50, timeout=1000 * timeout)


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(env: dict | None = None, log_path: Path | None = None, start_timeout: float = 120):
    """``python -m dashboard`` (``streamlit run app.py`` with UMAP's JIT warming from the start) on a
    free localhost port; yields its URL once healthy, stops it after.

    ``env`` adds to this process's environment (e.g. ``ANOMALY_CACHE_DIR``, ``DASHBOARD_POINTS``);
    the server's output goes to ``log_path`` (its tail is in the error when it does not start).
    """
    port = free_port()
    log = open(log_path, "w+") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=dict(os.environ, **(env or {})), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + start_timeout
        while not _healthy(url):
            if process.poll() is not None or time.time() > deadline:
                tail = ""
                if log_path:
                    log.seek(0)
                    tail = log.read()[-3000:]
                raise ServerError(f"streamlit did not start:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if log_path:
            log.close()


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False
