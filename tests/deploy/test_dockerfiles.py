"""Each service's Dockerfile: two stages (a build stage making a virtualenv, then a slim non-root runtime),
copying paths that exist, installing every platform library the service depends on, and running a module
that exists; and the chart runs each image by that same module. Built from the repository root."""

from __future__ import annotations

import itertools
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from deploy.helm.check import MINIMAL, every_object, render

ROOT = Path(__file__).resolve().parents[2]
MODULES = {
    "gateway": "gateway",
    "dataset-svc": "dataset_svc",
    "snapshot-svc": "snapshot_svc",
    "trainer-svc": "trainer_svc",
    "inference-svc": "inference_svc",
}
LIBRARIES = {
    "automl-common": "libs/common",
    "automl-proto": "proto",
    "automl-modelkit": "libs/modelkit",
    "automl-client": "sdk/python",
}


def stages(text: str) -> list[str]:
    return re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]


@pytest.mark.parametrize("service", sorted(MODULES))
def test_the_dockerfile_names_what_exists(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert text.startswith(f"# Build from the repository root: docker build -f services/{service}/Dockerfile .")
    build, runtime = stages(text)
    assert re.match(r"FROM python:3\.\d+-slim AS build\n", build)
    assert re.match(r"FROM python:3\.\d+-slim\n", runtime)

    copies = re.findall(r"^COPY\s+(\S+)\s+(\S+)$", build, flags=re.MULTILINE)
    for source, target in copies:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert target == f"/app/{source}"
    copied = {target for _, target in copies}
    runs = " ".join(re.findall(r"^RUN .*(?:\n\s+.*)*", build, flags=re.MULTILINE)).split()
    installed = set()
    for previous, token in itertools.pairwise(runs):
        if token.startswith("/app/") and previous not in ("-c", ">"):  # a package installed from the copy
            assert token in copied, f"pip install {token}: not copied from the repository"
            installed.add(token)
    dependencies: list[str] = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    for dependency in dependencies:
        name = re.split(r"[<>=\[ ]", dependency)[0]
        if name in LIBRARIES:
            assert f"/app/{LIBRARIES[name]}" in installed, f"{service} depends on {name}, the image lacks it"
    assert f"/app/services/{service}" in installed

    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert f"COPY services/{service} /app/services/{service}" in runtime  # the editable install's source
    assert re.search(r"^USER (?!root\b|0\b)\S+$", runtime, flags=re.MULTILINE), "the image runs as root"
    (command,) = re.findall(r"^CMD (\[.*\])$", runtime, flags=re.MULTILINE)
    argv = shlex.split(command.strip("[]").replace(",", " "))
    assert argv == ["python", "-m", MODULES[service]]
    assert (ROOT / "services" / service / MODULES[service] / "__main__.py").is_file()


def test_the_chart_runs_each_image_by_its_module() -> None:
    deployments: list[dict[str, Any]] = [o for o in every_object(render(MINIMAL)) if o["kind"] == "Deployment"]
    seen = {}
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        image = container["image"].rsplit("/", 1)[1].split(":")[0]
        seen[image] = container["command"]
    assert seen == {service: ["python", "-m", module] for service, module in MODULES.items()}
