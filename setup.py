"""Puts the dashboard's entry script, its pages and its Streamlit settings into the wheel.

app.py, pages/ and .streamlit/ sit at the checkout's root, where ``streamlit run app.py`` finds
them; an installed copy has no checkout, so the build copies them into ``dashboard/_app/``, where
:mod:`dashboard.app_files` looks when there is no checkout around the package. Everything else
is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def app_files() -> list[str]:
    """app.py, every page and the Streamlit settings, relative to the root."""
    pages = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "pages").glob("*.py"))
    return ["app.py", *pages, ".streamlit/config.toml"]


class BuildWithApp(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install runs the checkout's own files
            return
        target = Path(self.build_lib) / "dashboard" / "_app"
        for name in app_files():
            self.mkpath(str((target / name).parent))
            self.copy_file(str(ROOT / name), str(target / name))


setup(cmdclass={"build_py": BuildWithApp})
