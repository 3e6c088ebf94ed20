"""Where the client finds the platform and its key: arguments first, then the environment (``AUTOML_URL``,
``AUTOML_API_KEY``, ``AUTOML_PROFILE``), then a profile in the profile file (``AUTOML_CONFIG``, default
``~/.config/automl/config.toml``):

    [default]
    url = "http://127.0.0.1:8080"
    api_key_file = "/srv/automl/.automl/admin.key"   # or api_key = "aml_..."

    [staging]
    url = "https://automl.staging.example"
    api_key = "aml_..."
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from automl_client.errors import ConfigurationError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_PROFILE = "default"


def default_config_file(environ: Mapping[str, str]) -> Path:
    if environ.get("AUTOML_CONFIG"):
        return Path(environ["AUTOML_CONFIG"])
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "automl" / "config.toml"


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str
    timeout_s: float = 60.0
    max_retries: int = 4  # for 429 and 503 answers and connection failures
    max_retry_wait_s: float = 60.0  # a longer Retry-After is not waited for: the error is raised

    def __repr__(self) -> str:  # never print the key
        return f"Config(url={self.url!r}, api_key=<hidden>, timeout_s={self.timeout_s})"


def _profile(path: Path, name: str, required: bool) -> dict[str, object]:
    if not path.exists():
        if required:
            raise ConfigurationError(f"profile {name!r} asked for, but there is no profile file at {path}")
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError(f"the profile file {path} cannot be read: {e}") from e
    section = document.get(name)
    if section is None:
        if required:
            raise ConfigurationError(f"the profile file {path} has no [{name}] section")
        return {}
    if not isinstance(section, dict):
        raise ConfigurationError(f"[{name}] in {path} is not a table")
    return section


def resolve(
    url: str | None = None,
    api_key: str | None = None,
    *,
    profile: str | None = None,
    timeout_s: float | None = None,
    max_retries: int | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Config:
    environ = os.environ if environ is None else environ
    name = profile or environ.get("AUTOML_PROFILE") or DEFAULT_PROFILE
    path = config_file or default_config_file(environ)
    section = _profile(path, name, required=bool(profile or environ.get("AUTOML_PROFILE")))
    key = api_key or environ.get("AUTOML_API_KEY") or section.get("api_key")
    if key is None and section.get("api_key_file"):
        key_file = Path(str(section["api_key_file"])).expanduser()
        try:
            key = key_file.read_text().strip()
        except OSError as e:
            raise ConfigurationError(f"api_key_file of profile {name!r}: {e}") from e
    if not key:
        raise ConfigurationError(
            "no API key: pass api_key=, set AUTOML_API_KEY, or put api_key in a profile of " + str(path)
        )
    base = url or environ.get("AUTOML_URL") or str(section.get("url") or DEFAULT_URL)
    if not base.startswith(("http://", "https://")):
        raise ConfigurationError(f"url {base!r}: must start with http:// or https://")
    return Config(
        url=base.rstrip("/"),
        api_key=str(key),
        timeout_s=timeout_s if timeout_s is not None else float(str(section.get("timeout_s", 60.0))),
        max_retries=max_retries if max_retries is not None else int(str(section.get("max_retries", 4))),
    )
