"""Writes ``automl_client/_sync`` from ``automl_client/_async`` (``python -m automl_client._generate``), the
way httpcore keeps its two halves: one source, no drift. ``--check`` exits 1 if the committed copy differs."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

PACKAGE = Path(__file__).resolve().parent
REPLACEMENTS = {
    "AsyncClient": "Client",
    "AsyncBaseTransport": "BaseTransport",
    "AsyncOrgs": "Orgs",
    "AsyncKeys": "Keys",
    "AsyncDatasets": "Datasets",
    "AsyncSnapshots": "Snapshots",
    "AsyncBaseModels": "BaseModels",
    "AsyncModels": "Models",
    "AsyncDeployments": "Deployments",
    "AsyncTasks": "Tasks",
    "AsyncBatchPredictions": "BatchPredictions",
    "AsyncUsage": "Usage",
    "aclose": "close",
    "aread": "read",
    "aiter_bytes": "iter_bytes",
    "aiter_lines": "iter_lines",
    "asyncio": "time",
    "_async": "_sync",
}
HEADER = "# Generated from automl_client/_async by `python -m automl_client._generate`: do not edit.\n"


def generate(target_root: Path) -> list[Path]:
    sources = sorted((PACKAGE / "_async").glob("*.py"))
    with tempfile.TemporaryDirectory() as work:
        staged = Path(work) / "_async"
        staged.mkdir()
        for source in sources:
            (staged / source.name).write_text(source.read_text())
        rule = unasync.Rule(fromdir=f"{work}/_async/", todir=f"{work}/_sync/", additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(staged / source.name) for source in sources], rules=[rule])
        written = []
        target = target_root / "_sync"
        target.mkdir(exist_ok=True)
        for source in sources:
            text = (Path(work) / "_sync" / source.name).read_text()
            # "import time" twice once asyncio became time: keep one.
            lines, seen = [], False
            for line in text.splitlines(keepends=True):
                if line == "import time\n":
                    if seen:
                        continue
                    seen = True
                lines.append(line)
            (target / source.name).write_text(_formatted(HEADER + "".join(lines), PACKAGE / "_sync" / source.name))
            written.append(target / source.name)
        return written


def _formatted(text: str, name: Path) -> str:
    """As ``ruff format`` leaves it (the project's formatter), so that the copy is lint clean."""
    fix = [sys.executable, "-m", "ruff", "check", "--fix", "--unsafe-fixes", "--select", "I,UP028", "--quiet"]
    text = subprocess.run([*fix, "--stdin-filename", str(name), "-"], input=text, capture_output=True, text=True).stdout
    command = [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(name), "-"]
    return subprocess.run(command, input=text, capture_output=True, text=True, check=True).stdout


def main() -> int:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as scratch:
            generated = generate(Path(scratch))
            stale = [p.name for p in generated if p.read_text() != (PACKAGE / "_sync" / p.name).read_text()]
        if stale:
            print(f"automl_client/_sync is stale ({', '.join(stale)}): run python -m automl_client._generate")
            return 1
        return 0
    for written in generate(PACKAGE):
        print(f"wrote {written.relative_to(PACKAGE.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
