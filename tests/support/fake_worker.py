"""A stand-in for ``python -m trainer_svc.worker SPEC``: it does what its spec's model name says, so the
local backend's contract test runs real processes that end in each of the ways a worker can end."""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def main() -> int:
    behaviour = json.loads(open(sys.argv[-1]).read())["model_name"]  # noqa: SIM115
    if behaviour == "succeed":
        return 0
    if behaviour == "bad_input":
        print("unusable job spec: no labelled rows", flush=True)
        return 2
    if behaviour == "interrupted":
        return 3
    if behaviour == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    for line in range(100):
        print(f"line {line}", flush=True)
    time.sleep(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
