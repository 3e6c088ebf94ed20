#!/usr/bin/env bash
# The GPU check (bench/gpu/__main__.py says what each part measures). Run it as it is where a GPU is lent:
#   bash bench/gpu.sh                 # every part, real sizes, on CUDA (about 3 to 7 minutes)
#   bash bench/gpu.sh --cpu --tiny    # the self-check the test suite runs
# Uses the project's .venv when there is one, else python3 (a GPU machine's own torch). That machine has no
# pydantic and no registry: `make gpu-wheels` saves the pure-Python packages the platform's code needs into
# .whl/ here; carry .whl with the tree and this script installs them into a scratch folder first.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then py=$PYTHON; elif [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
if ! "$py" -c 'import pydantic, pydantic_settings' 2>/dev/null; then
    if ! compgen -G ".whl/*.whl" >/dev/null; then
        echo "gpu check: $py lacks pydantic and pydantic-settings, and no wheels are in .whl/ (make gpu-wheels)" >&2
        exit 2
    fi
    site=${TMPDIR:-/tmp}/automl-gpu-site
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl || exit 2
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$py" -m bench.gpu "$@"
