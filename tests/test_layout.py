"""The package's layers: each module imports only from its own layer or the ones below, and no
module imports itself back through others (read from the import statements, as the cache's code
versions are: detector.cache._imports)."""

import ast
import subprocess
import sys
from pathlib import Path

from detector import cache

ROOT = Path(__file__).resolve().parent.parent
#: bottom to top; a module's layer is its subpackage (the leaves sit at the top of detector/)
LAYERS = ["errors runtime cache", "inputs", "data", "models", "anomalies", "method", "baselines", "evaluation", "cli"]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names.split()}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return len(LAYERS)  # the package itself: its public names come from every layer
    return RANK[parts[1]]


def test_every_module_belongs_to_a_layer_and_imports_only_downwards():
    upward = []
    for module in cache._package_sources():
        for target in cache._imports(module)[0]:
            if layer(target) > layer(module):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports: " + "; ".join(sorted(upward))


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_in_the_package():
    graph = {module: set(cache._imports(module)[0]) for module in cache._package_sources()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_import_circle_among_the_scripts():
    scripts = {path.stem: path for path in (ROOT / "scripts").glob("*.py")}
    graph = {}
    for name, path in scripts.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module)
        graph[name] = imported & set(scripts)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_few_modules_at_the_top_of_the_package():
    top = [path.name for path in (ROOT / "detector").glob("*.py")]
    assert len(top) <= 12, top


def test_a_low_layer_imports_without_the_layers_above():
    """The package's ``__init__`` loads its public names on first use (PEP 562): importing the input gate
    loads no module of the layers above it, and ``detector.UniformDetector`` still works."""
    code = ("import sys, detector.inputs.images; "
            "print(' '.join(m for m in sys.modules if m.startswith('detector.')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "detector.inputs.images" in loaded
    above = [m for m in loaded if layer(m) > RANK["inputs"]]
    assert not above, f"import detector.inputs.images loaded {above}"
    import detector
    from detector.method.uniform import UniformDetector

    assert detector.UniformDetector is UniformDetector and "load_experiment" in dir(detector)


def _python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))] + [ROOT / "app.py"]


def test_session_state_and_the_pages_switch_each_have_one_home():
    """Pages and the dashboard reach st.session_state only through dashboard/state.py's typed keys, and
    Streamlit's pages-directory switch (an internal) is touched in dashboard/sidebar.py alone."""
    raw = [str(path.relative_to(ROOT)) for path in _python_files("pages", "dashboard", "scripts")
           if "session_state[" in path.read_text() or "session_state.get(" in path.read_text()]
    assert raw == ["dashboard/state.py"], raw
    switch = [str(path.relative_to(ROOT)) for path in _python_files("pages", "dashboard", "scripts", "tests")
              if "PagesManager" in path.read_text() and path.name != "test_layout.py"]
    assert switch == ["dashboard/sidebar.py"], switch


MAX_LINES = 300


def test_no_module_of_the_package_the_dashboard_or_the_pages_is_over_300_lines():
    """A module answers "what is this?" in one phrase; past 300 lines it is split by concern."""
    long = {str(path.relative_to(ROOT)): n for folder in ("detector", "dashboard", "pages")
            for path in sorted((ROOT / folder).rglob("*.py")) if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_no_page_text_names_an_issue_number():
    """What users read never names an issue: every string the pages and the dashboard package draw (their
    string constants, docstrings apart)."""
    import ast
    import re

    root = Path(__file__).resolve().parent.parent
    found = []
    for path in [root / "app.py", *sorted((root / "pages").glob("*.py")), *sorted((root / "dashboard").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and re.search(r"\bissues? \d+", node.value, re.IGNORECASE):
                found.append(f"{path.name}: {node.value!r}")
    assert not found, found
