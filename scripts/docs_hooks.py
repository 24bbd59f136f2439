"""MkDocs hooks (mkdocs.yml): the pages generated from the code and the committed files, at build time.

Nothing generated is committed, so the site cannot drift from what it describes:

- ``reports/NAME.md``: each committed report ``docs/results-NAME.md`` as a page of its own;
- ``tour.md``: ``docs/tour.ipynb`` converted to Markdown with nbconvert (committed without outputs);
- in ``cli.md``, the marker ``<!-- generated: cli-help -->``: the ``--help`` of every command, from the
  parser in :mod:`detector.cli.arguments`;
- links from a page to ``results-NAME.md`` lead to its page, ``reports/NAME.md``;
- in ``methods.md``, the marker ``<!-- generated: methods -->``: one row per registered method, from
  :data:`detector.evaluation.registry.METHODS` (each class's own ``info``: name, description,
  reference, whether it streams; and ``reads`` where a class says what it reads).

Pages that other parts of the project write into docs/ (teaching, security notes, ...) are put into
the navigation when they exist, so that a strict build never fails on a page it does not list.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REPORTS_SECTION, OTHER_SECTION = "Results", "Background"
#: pages written elsewhere in the project: (file, section, the entry they follow)
PLACES = {
    "teaching.md": ("Using it", "dashboard.md"),
    "drawn-inputs.md": ("Using it", "verdicts.md"),
    "security-shared-state.md": ("Background", "security.md"),
}


# --------------------------------------------------------------------------- navigation
def _title(path: Path) -> str:
    """The page's first level-one heading, else its file name."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("`")
    return path.stem.replace("-", " ").capitalize()


def _files_in(entries) -> set[str]:
    found: set[str] = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found |= _files_in(value) if isinstance(value, list) else {value}
    return found


def _section(nav: list, title: str) -> list:
    for entry in nav:
        if isinstance(entry, dict) and title in entry:
            return entry[title]
    nav.append({title: []})
    return nav[-1][title]


def _insert_after(section: list, after: str, entry: dict) -> None:
    for index, item in enumerate(section):
        if isinstance(item, dict) and next(iter(item.values())) == after:
            section.insert(index + 1, entry)
            return
    section.append(entry)


def reports() -> list[tuple[str, Path]]:
    """(name, file) of every committed report, ``docs/results-NAME.md``."""
    return [(path.stem.removeprefix("results-"), path) for path in sorted(DOCS.glob("results-*.md"))]


def on_config(config):
    sys.path.insert(0, str(ROOT))  # the project's packages, for the generated pages and mkdocstrings
    nav = config["nav"]
    listed = _files_in(nav)
    results = _section(nav, REPORTS_SECTION)
    for name, _ in reports():
        label = name.removesuffix("-oe") + (", Outlier Exposure" if name.endswith("-oe") else "")
        results.append({f"Report: {label}": f"reports/{name}.md"})
    for path in sorted(DOCS.glob("*.md")):
        if path.name in listed or path.name.startswith("results-"):
            continue
        section, after = PLACES.get(path.name, (OTHER_SECTION, None))
        _insert_after(_section(nav, section), after, {_title(path): path.name})
    return config


# --------------------------------------------------------------------------- generated files
def report_page(name: str, path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    downloads = [f"[{suffix}](../{path.stem}.{suffix})" for suffix in ("csv", "json")
                 if path.with_suffix(f".{suffix}").exists()]
    lead = (f"The committed report `docs/{path.name}`, as `python -m detector report` wrote it"
            + (f" (also as {' and '.join(downloads)})" if downloads else "") + ". Overview: [Results](../results.md).\n\n")
    heading, _, rest = text.partition("\n")
    return f"{heading}\n\n{lead}{rest}"


def tour_page(path: Path) -> str:
    """The notebook as Markdown (its code and text; it is committed without outputs)."""
    import nbformat
    from nbconvert import MarkdownExporter

    notebook = nbformat.read(path, as_version=4)
    body, _ = MarkdownExporter().from_notebook_node(notebook)
    note = (f"\n\n!!! note \"Run it\"\n    `bash scripts/notebook.sh` opens this notebook, [{path.name}]({path.name}), "
            "in JupyterLab; see [Notebooks](notebooks.md).\n")
    heading, _, rest = body.lstrip().partition("\n")
    return f"{heading}{note}\n{rest}"


def on_files(files, config):
    for name, path in reports():
        files.append(File.generated(config, f"reports/{name}.md", content=report_page(name, path)))
    files.append(File.generated(config, "tour.md", content=tour_page(DOCS / "tour.ipynb")))
    return files


# --------------------------------------------------------------------------- generated sections
def _subcommands(parser: argparse.ArgumentParser):
    """(parser, its subparsers) of every command, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _subcommands(sub)


def cli_help() -> str:
    from detector.cli.arguments import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same width on every machine
    try:
        parts = [f"### `{parser.prog}`\n\n```text\n{parser.format_help().rstrip()}\n```\n"
                 for parser in _subcommands(build_parser())]
    finally:
        if columns is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(parts)


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|").strip()


def methods_table() -> str:
    from detector.evaluation.registry import METHODS

    rows = ["| name | what it scores | reference | reads | streams a folder |", "|---|---|---|---|---|"]
    for name, cls in METHODS.items():
        info = cls.info
        reads = getattr(cls, "reads", None) or ("features and logits, batch by batch" if info.streams
                                                else "the split's pixels, in memory")
        rows.append(f"| `{name}` | {_cell(info.description)} | {_cell(info.reference)} | {_cell(reads)} "
                    f"| {'yes' if info.streams else 'no'} |")
    return "\n".join(rows) + "\n"


GENERATED = {"cli-help": cli_help, "methods": methods_table}


#: a link from a page in docs/ to a committed report's Markdown, which the site shows under reports/
REPORT_LINK = re.compile(r"\]\((?:\./)?results-([a-z0-9-]+)\.md(#[^)]*)?\)")


def on_page_markdown(markdown, page, config, files):
    def fill(match: re.Match) -> str:
        return GENERATED[match.group(1)]()

    markdown = re.sub(r"<!-- generated: ([a-z-]+) -->", fill, markdown)
    if "/" not in page.file.src_uri:  # pages at the top of docs/, beside the reports
        markdown = REPORT_LINK.sub(lambda m: f"](reports/{m.group(1)}.md{m.group(2) or ''})", markdown)
    return markdown
