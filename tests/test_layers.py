"""The package's layering, read from its source with ``ast``: imports flow one way and close no cycle.

bottom (errors, model, flat_index, verdict, numformat, table) -> language -> engines -> cases ->
{gradcheck, report} -> top (cli, output, progress, pytest_plugin). ``gradcheck`` and ``report``
never import each other. Imports under ``TYPE_CHECKING`` and inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "derivcheck"

LAYERS = {
    "bottom": 0, "language": 1, "engines": 2, "mistakes": 3, "cases": 4, "gradcheck": 5, "report": 5, "top": 6,
}
BOTTOM = {"errors", "model", "flat_index", "verdict", "numformat", "table"}
TOP = {"cli", "output", "progress", "pytest_plugin", "__main__"}
SIBLINGS = {frozenset({"gradcheck", "report"})}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "facade"
    if len(parts) == 2 and parts[1] in BOTTOM:
        return "bottom"
    if len(parts) == 2 and parts[1] in TOP:
        return "top"
    return parts[1]


def _imports(path: Path) -> set[str]:
    """Every derivcheck module this file imports, wherever the import statement sits."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "derivcheck")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "derivcheck":
                continue
            for alias in node.names:  # `from derivcheck.engines import exact` names a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate) else target)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_rooms_are_known():
    unknown = {m for m in _graph() if _room(m) not in LAYERS and _room(m) != "facade"}
    assert not unknown, f"modules outside every room: {sorted(unknown)}"


def test_imports_flow_one_way():
    bad = []
    for module, targets in _graph().items():
        room = _room(module)
        if room == "facade":
            continue  # derivcheck/__init__.py re-exports the public names, lazily
        for target in targets:
            other = _room(target)
            if other == "facade" or other == room:
                continue
            if frozenset({room, other}) in SIBLINGS or LAYERS[other] > LAYERS[room]:
                bad.append(f"{module} ({room}) imports {target} ({other})")
    assert not bad, "imports that run the wrong way:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_modules_stay_small():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 520}
    assert not long, f"modules over ~500 lines: {long}"


def test_the_checker_sees_a_wrong_way_import(tmp_path):
    """The rules above can fail: an engine importing the report is refused."""
    room = _room("derivcheck.engines.exact")
    assert LAYERS[_room("derivcheck.report.steps")] > LAYERS[room]
    assert _room("derivcheck.cli") == "top" and _room("derivcheck.verdict") == "bottom"


def _layout_paths(readme: str) -> set[str]:
    """The module paths README's Layout tree names: ``derivcheck/x.py`` lines, and indented file
    names under the ``derivcheck/<room>/`` (and ``<sub>/``) line above them."""
    block = readme[readme.index("## Layout"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    named: set[str] = set()
    folders: list[tuple[int, str]] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent, first = len(line) - len(line.lstrip()), line.split()[0]
        folders = [(d, f) for d, f in folders if d < indent]
        if first.startswith("derivcheck/"):
            first = first.removeprefix("derivcheck/")
            if first.endswith("/"):
                folders = [(indent, first)]
            else:
                named.update(w for w in line.split() if w.endswith(".py"))
            continue
        prefix = "".join(f for _, f in folders)
        if first.endswith("/"):
            folders.append((indent, first))
        elif first.endswith(".py"):
            named.add(prefix + first)
    return {n.removeprefix("derivcheck/") for n in named}


def test_the_readme_layout_names_every_module():
    """README's Layout is the newcomer's map: every module of the package is on it, in its room."""
    named = _layout_paths((PACKAGE.parent / "README.md").read_text(encoding="utf-8"))
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    named.discard("__init__.py")  # the package facade, named on its own line
    assert not modules - named, f"modules missing from README's Layout: {sorted(modules - named)}"
    assert not named - modules, f"README's Layout names modules that do not exist: {sorted(named - modules)}"
