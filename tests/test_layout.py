"""The package's shape (docs/architecture.md): small modules and functions, imports at the
top except the few that keep `import anomgrad` light, no import back from the package
root, the compiled core behind one loader, and every layer of the tree documented."""

import ast
import pathlib
import subprocess
import sys


ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "anomgrad"
MODULE_LINES = 500
FUNCTION_LINES = 80  # not counting the docstring

# Longer on purpose: {"path": "reason"} / {"path:function": "reason"} (none today).
LONG_MODULES: dict[str, str] = {}
LONG_FUNCTIONS: dict[str, str] = {}


def _modules():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _code_lines(node) -> int:
    n = node.end_lineno - node.lineno + 1
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        n -= body[0].end_lineno - body[0].lineno + 1
    return n


def test_the_package_is_found_here():
    assert len(_modules()) > 40  # the checks below would pass on an empty tree


def test_modules_and_functions_are_small():
    long = []
    for p in _modules():
        rel = str(p.relative_to(ROOT))
        src = p.read_text()
        if src.count("\n") > MODULE_LINES and rel not in LONG_MODULES:
            long.append(f"{rel}: {src.count(chr(10))} lines")
        for f in _functions(ast.parse(src)):
            if _code_lines(f) > FUNCTION_LINES and f"{rel}:{f.name}" not in LONG_FUNCTIONS:
                long.append(f"{rel}:{f.lineno} {f.name}: {_code_lines(f)} lines")
    assert not long, "split these (or list them with the reason):\n" + "\n".join(long)


def test_function_level_imports_say_why():
    """An import inside a function is there to keep `import anomgrad` (or the command
    line) light; it says so with a `# lazy: <reason>` comment."""
    bad = []
    for p in _modules():
        lines = p.read_text().splitlines()
        for f in _functions(ast.parse("\n".join(lines))):
            for node in ast.walk(f):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and \
                        "# lazy:" not in lines[node.lineno - 1]:
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not bad, "\n".join(bad)


def test_no_module_imports_the_package_root():
    """`from . import __version__` and friends import the root back (a cycle):
    constants come from the leaf modules (``_version``, ``config``)."""
    bad = []
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module is None and node.level and \
                    (p.parent == PKG and node.level == 1 or p.parent.parent == PKG and node.level == 2):
                names = [a.name for a in node.names]
                if any(n.startswith("__") for n in names):
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not bad, bad


def test_the_compiled_core_is_loaded_in_one_place():
    """Every module reaches ``_core`` through ``anomgrad._native`` (one clear error when
    the build is missing)."""
    users = []
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (
                    (node.module or "").endswith("_core") or
                    any(a.name == "_core" for a in node.names)):
                users.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert users == [], users


def test_a_missing_core_says_how_to_fix_it():
    code = ("import sys; sys.modules['anomgrad._core'] = None\n"
            "try:\n    import anomgrad._native\nexcept ImportError as e:\n    print(e)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "compiled core (anomgrad._core) is missing" in r.stdout
    assert "pip install ." in r.stdout


def test_architecture_doc_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(PKG)) for p in _modules()
               if p.name != "__init__.py" and str(p.relative_to(PKG)) not in doc]
    assert not missing, f"docs/architecture.md does not map: {missing}"


def test_the_project_cites_only_what_ships_with_it():
    """Citations of the method point at docs/method.md, which ships with the project."""
    assert (ROOT / "docs" / "method.md").exists()
    bad = []
    for base in ("anomgrad", "docs", "tests", "bench"):
        for p in (ROOT / base).rglob("*"):
            if p.suffix not in (".py", ".md") or "__pycache__" in p.parts:
                continue
            for i, line in enumerate(p.read_text().splitlines(), 1):
                if "method.md" in line and "docs/method.md" not in line and \
                        p.name not in ("method.md", "test_layout.py") and \
                        not (p.parent.name == "docs" and "(method.md" in line):
                    bad.append(f"{p.relative_to(ROOT)}:{i}")
    assert not bad, "cite docs/method.md:\n" + "\n".join(bad)


def _njit_keywords(node):
    """The keywords of a function's ``@njit(...)`` decorator, or None."""
    for d in node.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "njit":
            return {k.arg: k.value for k in d.keywords}
    return None


def test_numba_functions_called_from_kernels_use_numpys_error_model():
    """A Numba function that is neither inlined nor a parallel kernel is compiled on its
    own, with Python's error model unless it says otherwise: every division then checks
    for zero, and loops of Box-Muller normals or the log/exp of rng.py stop vectorising
    (3x slower; docs/benchmarks.md, issue 23). Parallel kernels get numpy's model from
    Numba, and inlined helpers take their caller's."""
    missing = []
    for p in _modules():
        for node in _functions(ast.parse(p.read_text())):
            kw = _njit_keywords(node)
            if kw is None or "inline" in kw or "parallel" in kw:
                continue
            em = kw.get("error_model")
            if not (isinstance(em, ast.Constant) and em.value == "numpy"):
                missing.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not missing, missing
