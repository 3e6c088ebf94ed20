"""One part of the GPU check, in a process of its own (``python -m bench.gpu.part NAME --device cuda``): its
figures on the last line of stdout after ``FIGURES``, or a traceback on stderr and exit code 1."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

MARK = "FIGURES "
# Each part's module under bench.gpu, in the order they run.
PARTS = {
    "text_full": "text",
    "llm_lora": "llm",
    "image_full": "image",
    "distributed": "distributed",
    "serving": "serving",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(PARTS))
    parser.add_argument("--device", choices=("cuda", "cpu"), required=True)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch
        from transformers.utils import logging as transformers_logging

        from bench.gpu.common import Setup

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        module = importlib.import_module(f"bench.gpu.{PARTS[args.name]}")
        figures: str = module.run(Setup(torch.device(args.device), args.tiny))
    except BaseException:  # whatever broke, it is this part's failure, said in full
        traceback.print_exc()
        return 1
    print(MARK + figures, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
