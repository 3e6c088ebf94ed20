"""Each service's Dockerfile copies paths that exist and runs a module that exists, and the chart runs the
images by those modules; built from the repository root, as their first line says."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = {
    "gateway": "gateway",
    "dataset-svc": "dataset_svc",
    "snapshot-svc": "snapshot_svc",
    "trainer-svc": "trainer_svc",
    "inference-svc": "inference_svc",
}


@pytest.mark.parametrize("service", sorted(MODULES))
def test_the_dockerfile_names_what_exists(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert text.startswith(f"# Build from the repository root: docker build -f services/{service}/Dockerfile .")
    copies = re.findall(r"^COPY\s+(\S+)\s+(\S+)$", text, flags=re.MULTILINE)
    assert copies, "no COPY"
    for source, target in copies:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert target.startswith("/app/")
    copied = {target for _, target in copies}
    runs = " ".join(re.findall(r"^RUN .*(?:\n\s+.*)*", text, flags=re.MULTILINE)).split()
    for previous, token in itertools.pairwise(runs):
        if token.startswith("/app/") and previous not in ("-c", ">"):  # a package installed from the copy
            assert token in copied, f"pip install {token}: not copied from the repository"
    (command,) = re.findall(r"^CMD (\[.*\])$", text, flags=re.MULTILINE)
    argv = shlex.split(command.strip("[]").replace(",", " "))
    assert argv == ["python", "-m", MODULES[service]]
    assert (ROOT / "services" / service / MODULES[service] / "__main__.py").is_file()
    assert re.search(r"^USER (?!root)\S+$", text, flags=re.MULTILINE), "the image runs as root"
