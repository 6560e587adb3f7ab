"""The folders of streams/ as layers: who imports whom, and the rule of each layer.

`python -m tests.layers` prints the picture of docs/architecture.md (`--write` puts it there) (a Mermaid graph of the
imports between folders, counted from the code); tests/test_layers.py checks the rules and
that the page shows the picture the code draws today.
"""
from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "streams"

# Bottom to top. A folder may import only folders listed before it in ALLOWED.
ALLOWED = {
    "core": set(),
    "schemas": {"core"},
    "runtime": {"core", "schemas"},
    "agents": {"core", "schemas", "runtime"},
    "web": {"core", "schemas", "runtime"},
    "insights": {"core", "schemas", "runtime"},
    "cli": {"core", "schemas", "runtime", "agents", "web", "insights"},
    "demo": {"core", "schemas", "runtime", "cli"},
    "(top)": {"core", "schemas", "runtime", "agents", "web", "insights", "cli", "demo"},
}
# What the pure layer may not touch: I/O frameworks and the clock.
IMPURE_MODULES = {"faust", "aiokafka", "kafka", "aiohttp", "rocksdict", "segment", "duckdb", "socket", "subprocess"}
CLOCK_CALLS = {("time", "time"), ("time", "monotonic"), ("time", "time_ns"), ("datetime", "now"),
               ("datetime", "utcnow"), ("date", "today")}
LABELS = {
    "core": "core: pure survey logic",
    "schemas": "schemas: message shapes",
    "runtime": "runtime: Faust app, Kafka plumbing",
    "agents": "agents: decode, decide, send",
    "web": "web: the HTTP bridge",
    "insights": "insights: the analysts' service",
    "cli": "cli: commands",
    "demo": "demo: make demo",
    "(top)": "python -m streams",
}


def folder_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else "(top)"


def imports(path: Path):
    """(line, imported module) of every import of `path`, relative ones made absolute."""
    package = ["streams", *path.relative_to(ROOT).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, module
            if not node.module or module.count(".") == 0:  # `from streams import x`: x may be a folder
                for alias in node.names:
                    yield node.lineno, f"{module}.{alias.name}"


def clock_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in CLOCK_CALLS:
            yield node.lineno, f"{node.func.value.id}.{node.func.attr}()"


def modules():
    return sorted(p for p in ROOT.rglob("*.py") if "static" not in p.parts)


def edges() -> Counter:
    counted = Counter()
    for path in modules():
        source = folder_of(path)
        for _, module in imports(path):
            parts = module.split(".")
            if parts[0] == "streams" and len(parts) > 1 and parts[1] in ALLOWED and parts[1] != source:
                counted[(source, parts[1])] += 1
    return counted


def violations() -> list[str]:
    found = []
    for path in modules():
        source, where = folder_of(path), path.relative_to(ROOT.parent)
        for line, module in imports(path):
            parts = module.split(".")
            if parts[0] == "streams" and len(parts) > 1 and parts[1] in ALLOWED and parts[1] != source \
                    and parts[1] not in ALLOWED.get(source, set()):
                found.append(f"{where}:{line}: {source} imports {module} (runs back up)")
            if source == "core" and parts[0] in IMPURE_MODULES:
                found.append(f"{where}:{line}: core imports {module}")
        if source == "core":
            found.extend(f"{where}:{line}: core reads the clock ({call})" for line, call in clock_calls(path))
        if source == "(top)" and path.name not in ("__init__.py", "__main__.py"):
            found.append(f"{where}: a module on the flat floor of streams/")
    return found


def mermaid() -> str:
    counted = edges()
    present = sorted({f for e in counted for f in e}, key=list(ALLOWED).index)
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'    {_node(f)}["{LABELS[f]}"]' for f in present]
    lines += [f"    {_node(a)} -->|{n}| {_node(b)}" for (a, b), n in
              sorted(counted.items(), key=lambda e: (list(ALLOWED).index(e[0][0]), list(ALLOWED).index(e[0][1])))]
    lines.append("```")
    return "\n".join(lines)


def _node(folder: str) -> str:
    return "main" if folder == "(top)" else folder


def write_page(page: Path) -> None:
    """Put today's picture between the page's layers markers."""
    import re

    text = page.read_text()
    begin = re.search(r"<!-- layers:begin.*?-->\n", text)
    end = text.index("<!-- layers:end -->")
    page.write_text(text[:begin.end()] + mermaid() + "\n" + text[end:])


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_page(ROOT.parent / "docs" / "architecture.md")
    else:
        print(mermaid())
    problems = violations()
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)
