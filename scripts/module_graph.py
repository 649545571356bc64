#!/usr/bin/env python3
"""Fails when the core's top-level modules depend on each other in a cycle.

A module's dependencies are the `crate::<module>` paths its non-test code names (`use` lines
and inline paths). Usage: scripts/module_graph.py core/src
"""

import os
import re
import sys


def module_of(root: str, path: str) -> str:
    rel = os.path.relpath(path, root)
    return rel.split(os.sep)[0].removesuffix(".rs")


def dependencies(root: str) -> dict[str, set[str]]:
    modules = {
        name.removesuffix(".rs")
        for name in os.listdir(root)
        if name.endswith(".rs") or os.path.isdir(os.path.join(root, name))
    }
    deps: dict[str, set[str]] = {m: set() for m in modules}
    for directory, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(directory, f)
            m = module_of(root, path)
            with open(path, encoding="utf-8") as fh:
                text = fh.read().split("#[cfg(test)]\nmod tests")[0]
            code = "\n".join(
                line for line in text.splitlines() if not line.strip().startswith("//")
            )
            for group in re.findall(r"crate::(\{[^}]*\}|[a-z_]+)", code):
                for name in re.findall(r"(?:^|[{,\s])([a-z_]+)", group):
                    if name in modules and name != m:
                        deps[m].add(name)
    return deps


def cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(deps[v]):
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
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(deps):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else "core/src"
    deps = dependencies(root)
    bad = cycles(deps)
    for component in bad:
        print(f"modules in a cycle: {', '.join(component)}", file=sys.stderr)
        for m in component:
            print(
                f"  {m} -> {', '.join(sorted(d for d in deps[m] if d in component))}",
                file=sys.stderr,
            )
    if not bad:
        print(f"{len(deps)} modules, no cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
