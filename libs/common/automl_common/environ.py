"""What a process started for tenant work inherits from ours: only what running Python needs, never a secret.

A training worker or a Ray process runs code over tenant input; whatever is in its environment is as good as
handed to the tenant. So children get an allowlist (``child_environment``), and a service that must let a
library spawn processes from its own environment (Ray) first drops its secrets from it (``drop_secrets``),
once its settings are read."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping

# Names a Python child needs to start and to find its packages, locale, temp dir and accelerators.
_INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
        "NVIDIA_VISIBLE_DEVICES",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "HF_HOME",
        "TORCH_HOME",
    }
)
_INHERITED_PREFIXES = ("LC_",)
# What counts as a secret in our own environment: the platform's credentials, whatever their prefix.
_SECRET = re.compile(r"(TOKEN|SECRET|PASSWORD|OPERATOR_KEY|ACCESS_KEY|DATABASE_URL|CREDENTIAL)", re.IGNORECASE)


def child_environment(extra: Mapping[str, str], parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of ``parent`` (default: ours) plus ``extra``."""
    source = os.environ if parent is None else parent
    env = {name: value for name, value in source.items() if name in _INHERITED or name.startswith(_INHERITED_PREFIXES)}
    env.update(extra)
    return env


def is_secret_name(name: str) -> bool:
    return bool(_SECRET.search(name))


def drop_secrets(environ: MutableMapping[str, str] | None = None, *, prefix: str = "AUTOML_") -> list[str]:
    """Remove the platform's secrets (``AUTOML_*`` names that look like credentials) from ``environ``
    (default: this process's); returns the names removed."""
    target = os.environ if environ is None else environ
    names = [name for name in target if name.startswith(prefix) and is_secret_name(name)]
    for name in names:
        del target[name]
    return names
