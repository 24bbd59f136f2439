"""Where the dashboard's entry script (app.py), its pages and its Streamlit settings lie.

In a checkout they sit at the root, beside this package; an installed copy carries them inside
the package, in ``_app/`` (setup.py copies them there when a wheel is built), so that
``uniform-dashboard`` or ``python -m dashboard`` starts from any folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SHIPPED = PACKAGE / "_app"


def app_dir() -> Path:
    """The folder that holds app.py and pages/: the checkout's root, else the installed copy."""
    root = PACKAGE.parent
    if (root / "app.py").is_file() and (root / "pages").is_dir():
        return root
    return SHIPPED


def config_flags(folder: Path | None = None) -> list[str]:
    """``.streamlit/config.toml`` beside app.py as ``--section.key=value`` flags for ``streamlit run``.

    Streamlit reads that file only from the working folder; passed as flags, the settings (listen
    on localhost only, no usage statistics, no Deploy button) hold wherever the server starts.
    Flags given after these win, so ``--server.address 0.0.0.0`` still opens it on purpose."""
    path = (folder or app_dir()) / ".streamlit" / "config.toml"
    if not path.is_file():
        return []
    flags = []
    for section, options in tomllib.loads(path.read_text()).items():
        for key, value in options.items():
            # a list (server.allowedHosts) is one flag per item, as Streamlit's command line takes it
            for item in value if isinstance(value, list) else [value]:
                text = str(item).lower() if isinstance(item, bool) else str(item)
                flags.append(f"--{section}.{key}={text}")
    return flags
