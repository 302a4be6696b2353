"""Architecture rules for the numpyae package, checked statically with `ast` (nothing is imported).

The layers, bottom to top. A module may import from its own subpackage or from a subpackage of a
LOWER rank; two subpackages of the same rank may not import each other. LAYERS below is the single
source of truth for the ranks.

    rank 0  numpyae.core       checks, random, registry
    rank 1  numpyae.nn, numpyae.data
    rank 2  numpyae.models
    rank 3  numpyae.io, numpyae.teaching
    rank 4  numpyae.training
    rank 5  numpyae.analysis, numpyae.integrations (optional bridges: scikit-learn)
    rank 6  numpyae.apps       command line and experiments (only numpyae/__main__.py imports it)

numpyae/__init__.py and numpyae/__main__.py are the facade and may import anything (except that
__init__ may not import apps). No other module may import the top package `numpyae` itself (e.g.
`from .. import Adam`), since that goes through the facade.

Further rules: no import cycles between numpyae modules; a function-local import of a numpyae
module carries a "breaks a cycle" comment, and other function-local imports are limited to
LOCAL_IMPORT_ALLOWED; no issue numbers or DESIGN.md references in the source; public classes,
functions and methods have docstrings.

Each rule is a plain function of {module name: source text}, so the self-tests at the bottom can
feed them synthetic packages.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = "numpyae"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / ROOT

LAYERS = {
    "core": 0,
    "nn": 1, "data": 1,
    "models": 2,
    "io": 3, "teaching": 3,
    "training": 4,
    "analysis": 5, "integrations": 5,
    "apps": 6,
}
FACADE = {ROOT, f"{ROOT}.__main__"}

# Heavy or optional dependencies (and stdlib modules few code paths need), imported where used.
LOCAL_IMPORT_ALLOWED = frozenset({"matplotlib", "tqdm", "hypothesis", "urllib", "gzip", "zlib",
                                  "warnings", "torch", "nbclient", "nbformat", "jupyter_client"})
CYCLE_BREAK_MARK = "breaks a cycle"
ISSUE_RE = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)
DESIGN_RE = re.compile(r"\bDESIGN\.md\b", re.IGNORECASE)


# ---- reading the package --------------------------------------------------------------------

def load_package(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """{dotted module name: source} for every .py file under package_dir (__init__ -> package)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path.read_text(encoding="utf-8")
    return modules


def is_numpyae(name: str) -> bool:
    return name == ROOT or name.startswith(ROOT + ".")


def subpackage(name: str) -> str | None:
    """'nn' for numpyae.nn.layers; None for the top package itself."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def _packages(modules) -> set[str]:
    # A module is a package if other modules live under it (an __init__.py with no submodule
    # next to it would be taken for a plain module: harmless unless it uses relative imports).
    return {ROOT} | {m.rsplit(".", i)[0] for m in modules for i in range(1, m.count(".") + 1)}


@dataclass(frozen=True)
class Import:
    module: str         # the importing module
    line: int
    end_line: int
    target: str         # absolute name of the imported module (pkg.x when that module exists)
    attr: str | None    # the name taken from target (`from pkg import attr`), None for a module
    bound: str | None   # the local name the import binds to it (None: `import a.b` binds `a`)
    local: bool         # inside a def


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _statements(tree):
    """(import statement, inside a def?) for every import statement anywhere in the tree."""
    stack = [(tree, False)]
    while stack:
        node, in_def = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_def
            stack.append((child, in_def or isinstance(child, _DEFS)))


def _from_base(module: str, node: ast.ImportFrom, packages) -> str:
    if node.level == 0:
        return node.module
    parts = module.split(".")
    if module not in packages:
        parts = parts[:-1]                     # a plain module: `.` is its package
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def module_imports(module: str, source: str, modules) -> list[Import]:
    """Every import in `module`, relative ones resolved; `from pkg import x` -> pkg.x if it is a
    module of `modules`, else pkg."""
    packages = _packages(modules)
    out = []
    for node, local in _statements(ast.parse(source, filename=module)):
        lines = (node.lineno, node.end_lineno)
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or (None if "." in alias.name else alias.name)
                out.append(Import(module, *lines, alias.name, None, bound, local))
            continue
        base = _from_base(module, node, packages)
        for alias in node.names:
            bound = alias.asname or alias.name
            if f"{base}.{alias.name}" in modules:
                out.append(Import(module, *lines, f"{base}.{alias.name}", None, bound, local))
            else:
                out.append(Import(module, *lines, base, alias.name, bound, local))
    return sorted(out, key=lambda i: (i.line, i.target))


def all_imports(modules) -> list[Import]:
    return [imp for name in sorted(modules) for imp in module_imports(name, modules[name], modules)]


def _comments(source: str) -> dict[int, str]:
    """{line number: comment text} (tokenize, so '#' inside strings does not count)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string
    return out


# ---- rule a: layering ------------------------------------------------------------------------

def _layer_problem(module: str, target: str) -> str | None:
    if module == f"{ROOT}.__main__":
        return None
    if module == ROOT:
        return "the facade __init__ imports apps" if subpackage(target) == "apps" else None
    src, dst = subpackage(module), subpackage(target)
    if src not in LAYERS:
        return f"importing module is in no layer ({src!r} not in LAYERS)"
    if dst is None:
        return "imports the top package (goes through the facade)"
    if dst not in LAYERS:
        return f"imports a module in no layer ({dst!r} not in LAYERS)"
    if dst == src:
        return None
    if LAYERS[dst] > LAYERS[src]:
        return f"higher layer ({dst} rank {LAYERS[dst]} > {src} rank {LAYERS[src]})"
    if LAYERS[dst] == LAYERS[src]:
        return f"same-rank subpackage ({dst} and {src} are both rank {LAYERS[src]})"
    return None


def layer_violations(modules) -> list[tuple[str, int, str, str]]:
    """(module, line, imported module, why) for each numpyae import that breaks the layering,
    and (module, 0, '', why) for each module outside the facade that is in no layer."""
    out = [(m, 0, "", f"module is in no layer ({subpackage(m)!r} not in LAYERS)")
           for m in sorted(modules) if m not in FACADE and subpackage(m) not in LAYERS]
    for imp in all_imports(modules):
        if is_numpyae(imp.target):
            why = _layer_problem(imp.module, imp.target)
            if why:
                out.append((imp.module, imp.line, imp.target, why))
    return list(dict.fromkeys(out))       # `from X import a, b`: one row per statement


# ---- rule b: import cycles -------------------------------------------------------------------

def import_graph(modules) -> dict[str, dict[str, int]]:
    """{A: {B: first line where A imports B}} over modules of `modules`, function-local imports
    included, self-imports left out."""
    graph = {m: {} for m in modules}
    for imp in all_imports(modules):
        if imp.target in modules and imp.target != imp.module:
            graph[imp.module].setdefault(imp.target, imp.line)
    return graph


def _strongly_connected(graph) -> list[list[str]]:
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):                               # Tarjan; depth <= number of modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _shortest_cycle_through(graph, start, allowed) -> list[str]:
    parent, queue = {start: None}, deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return path[::-1] + [start]
            if w in allowed and w not in parent:
                parent[w] = v
                queue.append(w)
    return []


def import_cycles(modules) -> list[list[tuple[str, int, str]]]:
    """Import cycles, each as its edges [(module, line, imported module), ...]: for every group of
    mutually importing modules, the shortest cycle through each member (duplicates dropped)."""
    graph = import_graph(modules)
    cycles, seen = [], set()
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        for start in component:
            path = _shortest_cycle_through(graph, start, set(component))
            key = frozenset(zip(path, path[1:]))
            if path and key not in seen:
                seen.add(key)
                cycles.append([(a, graph[a][b], b) for a, b in zip(path, path[1:])])
    return cycles


def format_cycle(cycle) -> str:
    return " -> ".join(f"{a} (line {line})" for a, line, _ in cycle) + f" -> {cycle[0][0]}"


# ---- rule c: function-local imports ----------------------------------------------------------

def local_import_violations(modules) -> list[tuple[str, int, str, str]]:
    """(module, line, imported module, why) for each disallowed import inside a def."""
    out, comments = [], {}
    for imp in all_imports(modules):
        if not imp.local:
            continue
        if is_numpyae(imp.target):
            if imp.module not in comments:
                comments[imp.module] = _comments(modules[imp.module])
            notes = [comments[imp.module].get(n, "") for n in range(imp.line, imp.end_line + 1)]
            if not any(CYCLE_BREAK_MARK in note for note in notes):
                out.append((imp.module, imp.line, imp.target,
                            f"numpyae import inside a function without a '{CYCLE_BREAK_MARK}' "
                            "comment"))
        elif imp.target.split(".")[0] not in LOCAL_IMPORT_ALLOWED:
            out.append((imp.module, imp.line, imp.target,
                        "function-local import not in LOCAL_IMPORT_ALLOWED"))
    return list(dict.fromkeys(out))


# ---- rule d: references to issues and to DESIGN.md -------------------------------------------

def reference_violations(modules) -> list[tuple[str, int, str]]:
    """(module, line, text) for each source line naming an issue number or DESIGN.md."""
    return [(name, n, line.strip())
            for name in sorted(modules)
            for n, line in enumerate(modules[name].splitlines(), 1)
            if ISSUE_RE.search(line) or DESIGN_RE.search(line)]


# ---- rule e: docstrings ----------------------------------------------------------------------

class _ClassIndex:
    """Classes of every module, and what each module's names refer to, to find base classes."""

    def __init__(self, modules):
        self.trees = {m: ast.parse(src, filename=m) for m, src in modules.items()}
        self.classes = {m: {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
                        for m, tree in self.trees.items()}
        self.names = {m: {} for m in modules}   # local name -> (module, attr or None)
        for imp in all_imports(modules):
            if not imp.local and imp.bound and is_numpyae(imp.target):
                self.names[imp.module][imp.bound] = (imp.target, imp.attr)

    def resolve(self, module, expr, depth=0):
        """(module, ClassDef) that the base-class expression names, or None."""
        if depth > 20 or module not in self.classes:
            return None
        if isinstance(expr, ast.Name):
            if expr.id in self.classes[module]:
                return module, self.classes[module][expr.id]
            target = self.names[module].get(expr.id)
            if target and target[1] is not None:       # re-exported: follow the chain
                return self.resolve(target[0], ast.Name(target[1]), depth + 1)
        elif isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            target = self.names[module].get(expr.value.id)
            if target and target[1] is None:
                return self.resolve(target[0], ast.Name(expr.attr), depth + 1)
        return None

    def documented_in_bases(self, module, cls, method, seen=None) -> bool:
        seen = set() if seen is None else seen
        for base in cls.bases:
            found = self.resolve(module, base)
            if found is None or (found[0], found[1].name) in seen:
                continue
            seen.add((found[0], found[1].name))
            bmod, bcls = found
            if any(isinstance(n, _DEFS) and n.name == method and ast.get_docstring(n)
                   for n in bcls.body):
                return True
            if self.documented_in_bases(bmod, bcls, method, seen):
                return True
        return False


def _is_accessor(node) -> bool:
    """@x.setter / @x.deleter on `def x`: documented by the property's getter."""
    return any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter", "getter")
               and isinstance(d.value, ast.Name) and d.value.id == node.name
               for d in node.decorator_list)


def docstring_violations(modules) -> list[tuple[str, int, str]]:
    """(module, line, qualified name) for each public module-level class or function, and each
    public method (properties included) of a public class, that has no docstring. A method that
    overrides a documented method of a numpyae base class is exempt."""
    index = _ClassIndex(modules)
    out = []
    for module in sorted(modules):
        for node in index.trees[module].body:
            if not isinstance(node, (*_DEFS, ast.ClassDef)) or node.name.startswith("_"):
                continue
            if not ast.get_docstring(node):
                out.append((module, node.lineno, node.name))
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if (isinstance(item, _DEFS) and not item.name.startswith("_")
                        and not ast.get_docstring(item) and not _is_accessor(item)
                        and not index.documented_in_bases(module, node, item.name)):
                    out.append((module, item.lineno, f"{node.name}.{item.name}"))
    return out


# ---- the rules on the real package -----------------------------------------------------------

MODULES = load_package()


def _fail(title, rows):
    pytest.fail(f"{title} ({len(rows)}):\n" + "\n".join(rows), pytrace=False)


def test_scans_the_whole_package():
    assert len(MODULES) > 30
    assert {"numpyae", "numpyae.core.checks", "numpyae.apps.cli"} <= set(MODULES)
    assert sum(is_numpyae(imp.target) for imp in all_imports(MODULES)) > 100  # imports resolved


def test_layering():
    found = layer_violations(MODULES)
    if found:
        _fail("imports against the layering",
              [f"{m}:{line}  imports {target}  -- {why}" for m, line, target, why in found])


def test_no_import_cycles():
    found = import_cycles(MODULES)
    if found:
        _fail("import cycles (function-local imports included)", [format_cycle(c) for c in found])


def test_function_local_imports():
    found = local_import_violations(MODULES)
    if found:
        _fail("function-local imports",
              [f"{m}:{line}  imports {target}  -- {why}" for m, line, target, why in found])


def test_no_issue_numbers_or_design_doc_references():
    found = reference_violations(MODULES)
    if found:
        _fail("lines naming an issue number or DESIGN.md (files outside the repository)",
              [f"{m}:{line}  {text}" for m, line, text in found])


def test_public_api_has_docstrings():
    found = docstring_violations(MODULES)
    if found:
        _fail("public classes, functions and methods without a docstring",
              [f"{m}:{line}  {name}" for m, line, name in found])


# ---- self-tests: the checker finds what it should, on a synthetic package --------------------

FAKE = {
    "numpyae": "from .nn.layers import Dense\n",
    "numpyae.core": "",
    "numpyae.core.checks": 'def check(x):\n    """Doc."""\n',
    "numpyae.nn": "from . import layers\n",
    "numpyae.nn.layers": (
        '"""Layers."""\n'
        "from ..core.checks import check\n"
        "from ..models.base import Model\n"              # line 3: nn (1) -> models (2)
        "from ..data import loader\n"                    # line 4: nn -> data, both rank 1
        "class Dense:\n"
        '    """A layer."""\n'
        "    def forward(self, x):\n"
        '        """Forward."""\n'
        "    def backward(self, g):\n"                   # line 9: no docstring anywhere
        "        import os\n"                            # line 10: not allowed locally
        "        import matplotlib.pyplot as plt\n"      # allowed
        "        from ..core import checks\n"            # line 12: no cycle-break comment
        "        from ..core import checks  # breaks a cycle with core\n"
    ),
    "numpyae.data": "",
    "numpyae.data.loader": "X = 1  # see issue #12 and DESIGN.md\n",
    "numpyae.models": "from .base import Model\n",
    "numpyae.models.base": (
        '"""Base."""\n'
        "class Model:\n"
        '    """A model."""\n'
        "    def loss(self, x):\n"
        '        """The loss."""\n'
        "    def step(self):\n"                          # line 6: undocumented in the base
        "        pass\n"
    ),
    "numpyae.models.ae": (
        "from .. import Adam\n"                          # line 1: the top package
        "from . import vae\n"                            # -> numpyae.models.vae: a cycle
        "from ..models import Model as M\n"
        "class AE(M):\n"
        '    """An autoencoder."""\n'
        "    def loss(self, x):\n"                       # documented in Model: exempt
        "        return 0\n"
        "    def step(self):\n"                          # line 8: Model.step has no docstring
        "        pass\n"
        "    @property\n"
        "    def size(self):\n"                          # line 11: a property needs one too
        "        return 1\n"
        "    @size.setter\n"
        "    def size(self, v):\n"                       # the getter's docstring would cover it
        "        pass\n"
        "class Other(Unknown):\n"
        '    """Unresolvable base."""\n'
        "    def loss(self, x):\n"                       # line 18: needs its own docstring
        "        return 0\n"
        "def public():\n"                                # line 20
        "    pass\n"
        "def _private():\n"
        "    pass\n"
    ),
    "numpyae.models.vae": '"""VAE."""\ndef f():\n    """Doc."""\n    from .ae import AE\n',
    "numpyae.apps": "",
    "numpyae.apps.cli": "from ..models.ae import AE\n",
    "numpyae.extras": "",
}


def test_selftest_layering():
    found = {(m, line, target) for m, line, target, _ in layer_violations(FAKE)}
    assert found == {
        ("numpyae.nn.layers", 3, "numpyae.models.base"),
        ("numpyae.nn.layers", 4, "numpyae.data.loader"),
        ("numpyae.models.ae", 1, "numpyae"),
        ("numpyae.extras", 0, ""),
    }


def test_selftest_relative_imports_resolve():
    targets = {(i.module, i.target) for i in all_imports(FAKE)}
    assert ("numpyae.nn", "numpyae.nn.layers") in targets          # from . import <submodule>
    assert ("numpyae.models.ae", "numpyae.models.vae") in targets
    assert ("numpyae.models.ae", "numpyae.models") in targets       # from ..models import Model
    assert ("numpyae.nn.layers", "numpyae.core.checks") in targets  # from ..core import checks


def test_selftest_cycles():
    cycles = import_cycles(FAKE)
    assert [sorted({a for a, _, _ in c}) for c in cycles] == [
        ["numpyae.models.ae", "numpyae.models.vae"]]
    assert "numpyae.models.vae (line 4)" in format_cycle(cycles[0])  # function-local edge


def test_selftest_local_imports():
    found = {(m, line, target) for m, line, target, _ in local_import_violations(FAKE)}
    assert found == {("numpyae.nn.layers", 10, "os"),
                     ("numpyae.nn.layers", 12, "numpyae.core.checks"),
                     ("numpyae.models.vae", 4, "numpyae.models.ae")}


def test_selftest_references():
    assert [(m, line) for m, line, _ in reference_violations(FAKE)] == [("numpyae.data.loader", 1)]
    lines = {"m": "# Issues 4 and 5\n# see issue#4\n# tissue 3\n# the issue is 3 bugs\n"}
    assert [line for _, line, _ in reference_violations(lines)] == [1, 2]


def test_selftest_docstrings():
    found = {(m, line, name) for m, line, name in docstring_violations(FAKE)}
    assert found == {
        ("numpyae.nn.layers", 9, "Dense.backward"),
        ("numpyae.models.base", 6, "Model.step"),
        ("numpyae.models.ae", 8, "AE.step"),
        ("numpyae.models.ae", 11, "AE.size"),
        ("numpyae.models.ae", 18, "Other.loss"),
        ("numpyae.models.ae", 20, "public"),
    }
