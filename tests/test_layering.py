"""Lower layers never import higher ones (ARCHITECTURE.md): nothing under node/ imports the
CLI. What both faces share (the inbox lists, the input parsers, errors in people's words)
lives in node/service, and the CLI imports it from there."""

from __future__ import annotations

import ast
from pathlib import Path

NODE = Path(__file__).resolve().parent.parent / "node"


def cli_imports(source: str) -> list[str]:
    """The names of the `cli` modules a module's source imports (at any depth of the code)."""
    found = []
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            names = [n.module]
        else:
            continue
        found += [name for name in names if name == "cli" or name.startswith("cli.")]
    return found


def test_the_check_sees_every_form_of_import():
    src = (
        "import cli\nimport os, cli.output\nfrom cli.errors import translate\n"
        "def f():\n    from cli import main\n"
        "import client\nfrom .cli import x\nfrom clinic import y\n"
    )
    assert cli_imports(src) == ["cli", "cli.output", "cli.errors", "cli"]


def test_node_imports_nothing_from_cli():
    files = sorted(NODE.rglob("*.py"))
    assert len(files) > 50  # the walk found the package
    bad = {
        str(p.relative_to(NODE.parent)): names
        for p in files
        if (names := cli_imports(p.read_text(encoding="utf-8")))
    }
    assert bad == {}, f"node/ must not import the CLI (move the shared part to node/): {bad}"


def _record_imports() -> dict[str, set[str]]:
    """module -> the modules of ``node/crdt/records`` it imports (at any depth of the code)."""
    graph = {}
    for p in (NODE / "crdt" / "records").glob("*.py"):
        deps = set()
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.ImportFrom) and n.level == 1:
                deps |= {n.module.split(".")[0]} if n.module else {a.name for a in n.names}
        graph[p.stem] = deps
    return graph


def test_the_records_modules_import_in_one_direction():
    """Views build on queries, queries on the records' rules, never the other way (the control
    API finds views in each module, no module re-exports another's). The one exception:
    ``common.require_member`` asks ``devices`` whether a device key acts for a member."""
    graph = _record_imports()
    assert {"queries", "views", "discussion", "export", "matching"} <= graph.keys()
    graph["common"].discard("devices")
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path, module]))
        if module in done or module not in graph:
            return
        for dep in sorted(graph[module]):
            walk(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
