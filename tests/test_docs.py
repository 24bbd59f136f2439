"""The front page, the documentation site and the text users read.

The site is built as CI and ``bash scripts/docs.sh`` build it (``mkdocs build --strict``: any
warning fails), into a temporary folder, and every internal link and anchor of every page is
followed. Users' text (README, docs, the pages, the dashboard's and the detector's code) names no
issue numbers: history belongs in the commit messages.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: the trees whose text users read, and the kinds of file in them that hold text
USER_TEXT = ["README.md", "app.py", "docs", "pages", "dashboard", "detector", ".streamlit", "mkdocs.yml"]
TEXT_SUFFIXES = {".md", ".py", ".ipynb", ".toml", ".yml", ".json", ".csv", ".txt"}
ISSUE = re.compile(r"\bissues?\s*#?\d+|\bissue's\b", re.IGNORECASE)


def _text_files():
    for name in USER_TEXT:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES)
        yield from (f for f in files if "__pycache__" not in f.parts)


def test_no_issue_numbers_or_history_in_what_users_read():
    found = []
    for path in _text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if ISSUE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "issue numbers in user text:\n" + "\n".join(found)


def test_the_issue_pattern_catches_what_it_must():
    for text in ("see issue 27", "(issue 28)", "Issue #14's goal", "issues 3", "the issue's case, measured"):
        assert ISSUE.search(text), text
    for text in ("an issue with the cache", "26 issues", "colour #d73027", "tissue 3d"):
        assert not ISSUE.search(text), text


def test_readme_is_a_short_front_page_with_the_two_commands_and_working_links():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    lines = text.splitlines()
    assert "bash scripts/run.sh" in lines and "bash scripts/test.sh" in lines  # each command alone on its line
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "bash scripts/test.sh" in ci  # CI runs the front page's test command, word for word
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 1 and (ROOT / images[0]).is_file()  # one screenshot, and it exists
    links = [link for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text) if "://" not in link]
    assert links and [link for link in links if not (ROOT / link).exists()] == []


class _Links(HTMLParser):
    """Every href / src of a page, and the ids it defines."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _target(site: Path, page: Path, path: str) -> Path:
    """The file a link points to: relative to its page, or to the site's root (404.html's links)."""
    target = (site / unquote(path).lstrip("/") if path.startswith("/") else page.parent / unquote(path)).resolve()
    return target / "index.html" if target.is_dir() else target


@pytest.mark.slow  # about 20 s: the build imports torch and the registry for the generated pages
def test_site_builds_strictly_and_its_internal_links_resolve(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "WARNING" not in log, log[-4000:]

    pages = sorted(site.rglob("*.html"))
    generated = {"cli/index.html": "python -m detector evaluate", "methods/index.html": "ours+knn",
                 "reports/lenet-mnist/index.html": "Tables, held-out protocol", "tour/index.html": "A tour of uniform",
                 "api/index.html": "UniformDetector"}
    for page, text in generated.items():  # the pages made at build time are there, with their content
        assert text in (site / page).read_text(encoding="utf-8"), page
    assert (site / "screenshots" / "explore-hover.png").is_file()

    parsed = {page: _parse(page) for page in pages}
    broken = []
    for page, links in parsed.items():
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "data:")):
                continue
            target = _target(site, page, parts.path) if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in (
                    parsed[target].ids if target in parsed else _parse(target).ids):
                broken.append(f"{page.relative_to(site)} -> {link} (no such anchor)")
    assert not broken, "\n".join(broken)
