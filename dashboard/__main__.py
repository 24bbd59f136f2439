"""``python -m dashboard [streamlit options]``: the dashboard's server, UMAP's JIT warming from the start.

Streamlit runs app.py only when a browser connects, and numba compiles UMAP's functions on
their first use: 20-30 s here, which the first visitor of Explore used to wait for (46 s for
a first page on a fresh server). Started in a daemon thread of the server process itself,
the compilation runs while nobody is looking; app.py's own call then finds it under way.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def _import_app(timeout: float = 120.0) -> None:
    """Import what app.py imports (torch, the detector: about 10 s here) before the first
    session needs it, once Streamlit's runtime exists (its caches warn when decorated without)."""
    from streamlit import runtime

    deadline = time.monotonic() + timeout
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    importlib.import_module("dashboard.sidebar")


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    from detector.projection import warm_up_in_background

    warm_up_in_background()
    threading.Thread(target=_import_app, name="app-imports", daemon=True).start()
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
