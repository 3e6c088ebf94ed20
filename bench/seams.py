"""Counts of the seams the style guide asks the code to keep (issue 27), with every offending site.

    .venv/bin/python -m bench.seams            # the counts, then each site
    .venv/bin/python -m bench.seams --counts   # the counts only

- **queries outside repositories** (lines): a SQL statement built (``select``/``update``/``delete``/``insert``/
  ``text`` from SQLAlchemy) or a session used to read or write (``session.get``, ``.execute``, ``.add``...)
  in a module that is not a repository. Repositories are ``repository.py`` modules (or a ``repository/``
  package) and the shared repository and session machinery in ``automl_common/db``; migrations do not count.
- **hand commits**: ``.commit()`` or ``.rollback()`` anywhere but ``automl_common/db/engine.py``, the one
  unit of work every session dependency and background worker goes through.
- **internal reads returning dicts**: an HTTP answer's ``.json()`` used as it comes instead of parsed at
  once into a declared type (``Model.model_validate(response.json())``).
- **files over 400 lines**: Python files of the repository, generated code (the SDK's sync client) aside.

Found by reading the syntax tree, not by running anything, so it is quick enough for the test suite
(``tests/test_seams.py`` holds each count to its target).
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
SOURCE_ROOTS = ("services", "libs", "proto", "sdk")
GENERATED = ("sdk/python/automl_client/_sync/",)
SQL_BUILDERS = {"select", "update", "delete", "insert", "text"}
SESSION_CALLS = {
    "execute", "scalar", "scalars", "get", "get_one", "add", "add_all", "delete", "merge", "flush", "refresh",
    "stream", "stream_scalars",
}  # fmt: skip
SESSION_NAMES = {"session", "connection", "conn", "db"}
UNIT_OF_WORK = "libs/common/automl_common/db/engine.py"


@dataclass
class Counts:
    queries: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    dict_reads: list[str] = field(default_factory=list)
    long_files: list[str] = field(default_factory=list)

    def as_numbers(self) -> dict[str, int]:
        return {
            "queries outside repositories": len(self.queries),
            "hand commits": len(self.commits),
            "internal reads returning dicts": len(self.dict_reads),
            "files over 400 lines": len(self.long_files),
        }


def python_files() -> Iterator[Path]:
    for top in ("services", "libs", "proto", "sdk", "tests", "bench", "deploy"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/alembic/" in relative or ".egg-info" in relative or "/node_modules/" in relative:
                continue
            yield path


def is_repository(relative: str) -> bool:
    parts = relative.split("/")
    return (
        parts[-1] == "repository.py"
        or "repository" in parts[:-1]
        or relative.startswith("libs/common/automl_common/db/")
    )


def sqlalchemy_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The SQL builder functions imported by name, and the names SQLAlchemy's module is bound to."""
    builders: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            builders |= {alias.asname or alias.name for alias in node.names if alias.name in SQL_BUILDERS}
        elif isinstance(node, ast.Import):
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "sqlalchemy"}
    return builders, modules


def receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def query_sites(tree: ast.Module) -> Iterator[int]:
    builders, modules = sqlalchemy_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in builders:
            yield node.lineno
        elif isinstance(func, ast.Attribute):
            builds = func.attr in SQL_BUILDERS and isinstance(func.value, ast.Name) and func.value.id in modules
            if builds or (func.attr in SESSION_CALLS and receiver_name(func.value) in SESSION_NAMES):
                yield node.lineno


def commit_sites(tree: ast.Module) -> Iterator[int]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr in {"commit", "rollback"} and not node.args and not node.keywords:
            yield node.lineno


def dict_reads(tree: ast.Module) -> Iterator[int]:
    """``x.json()`` calls whose value is not handed straight to a ``model_validate``/``validate_python``."""
    validated: set[int] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr in {"model_validate", "validate_python"}:
            validated |= {id(argument) for argument in node.args}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "json"
            and not node.args
            and not node.keywords
            and id(node) not in validated
        ):
            yield node.lineno


def measure() -> Counts:
    counts = Counts()
    for path in python_files():
        relative = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if lines > MAX_LINES and not relative.startswith(GENERATED):
            counts.long_files.append(f"{relative} ({lines} lines)")
        if not relative.startswith(SOURCE_ROOTS):
            continue
        tree = ast.parse(text, filename=relative)
        if not is_repository(relative):
            counts.queries += [f"{relative}:{line}" for line in sorted(set(query_sites(tree)))]
        if relative != UNIT_OF_WORK:
            counts.commits += [f"{relative}:{line}" for line in sorted(set(commit_sites(tree)))]
        # The SDK reads the public API (its answers are typed there by the generated models);
        # what is counted here is what services read from each other.
        if relative.startswith(("services", "libs")):
            counts.dict_reads += [f"{relative}:{line}" for line in sorted(set(dict_reads(tree)))]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", action="store_true", help="print the counts only")
    arguments = parser.parse_args()
    counts = measure()
    for name, number in counts.as_numbers().items():
        print(f"{name:32} {number}")
    if arguments.counts:
        return
    every = (counts.queries, counts.commits, counts.dict_reads, counts.long_files)
    for name, sites in zip(counts.as_numbers(), every, strict=True):
        if sites:
            print(f"\n{name}:")
            for site in sites:
                print(f"  {site}")


if __name__ == "__main__":
    main()
