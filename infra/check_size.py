"""The size check of `make lint`: no production module over 300 lines, no function over 60.

    python infra/check_size.py

Production modules are those of write_api/, projector/, search_api/ and shared/. A function's lines run from its
`def` (decorators included) to its last line, nested functions counted in the one that holds them. Exceptions are
named one a line in infra/size_allowlist.txt (`path` for a module, `path::function` for a function), each for a
part being rewritten; an entry that is no longer needed is reported too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("write_api", "projector", "search_api", "shared")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
ALLOWLIST = ROOT / "infra" / "size_allowlist.txt"


def functions(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(qualified name, lines) of every function and method, outermost first; nested ones within their holder's."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                assert child.end_lineno is not None
                yield f"{prefix}{child.name}", child.end_lineno - first + 1
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")

    yield from walk(tree, "")


def oversized(root: Path) -> list[str]:
    """Every module and function over its limit, as `path` or `path::function` (relative to root)."""
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            source = path.read_text()
            if len(source.splitlines()) > MAX_MODULE_LINES:
                found.append(name)
            for function, lines in functions(ast.parse(source, name)):
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{name}::{function}")
    return found


def allowed(path: Path) -> set[str]:
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def check(root: Path, allowlist: Path) -> list[str]:
    """What is wrong: sizes over the limits and not allowed, and allowed entries that are within them now."""
    found = oversized(root)
    excused = allowed(allowlist)
    problems = [f"{entry}: over {MAX_FUNCTION_LINES if '::' in entry else MAX_MODULE_LINES} lines" for entry in found]
    problems = [p for p, entry in zip(problems, found, strict=True) if entry not in excused]
    problems += [f"{entry}: within the limits now, remove it from {allowlist.name}" for entry in excused - set(found)]
    return problems


def main() -> int:
    problems = check(ROOT, ALLOWLIST)
    for problem in problems:
        sys.stderr.write(f"{problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
