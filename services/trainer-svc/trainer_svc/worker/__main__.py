"""``python -m trainer_svc.worker SPEC_PATH`` (or the spec JSON in ``AUTOML_JOB_SPEC``): run one job.

Exit codes are ``trainer_svc.jobs.exits.WorkerExit``: 0 succeeded or cancelled, 1 failed (reported to
trainer-svc with the reason), 2 bad input (an unusable spec or data: not worth another attempt), 3
interrupted by SIGTERM after a checkpoint (another attempt resumes it).

With more than one rank (``gpus`` x ``nodes``) this process is the launcher: it runs torchrun's elastic
agent, which starts this module once per local rank, and exits with the code of the rank that failed first
(a signal as 128 + its number, as a container reports it)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from pathlib import Path

import torch.distributed as dist
from pydantic import ValidationError
from transformers.utils import logging as transformers_logging

from automl_common.storage import ScopedStore, StoreScope, create_store, org_images_prefix
from automl_proto.training import JobSpec
from modelkit import model_types
from modelkit.training.distributed import DeviceUnavailable, init_from_environment, leave
from modelkit.training.loop import TrainingCancelled, TrainingInterrupted
from trainer_svc.jobs.exits import WorkerExit
from trainer_svc.worker.classifier import ClassifierJob
from trainer_svc.worker.detection import DetectionJob
from trainer_svc.worker.job import BadInput, Job
from trainer_svc.worker.launch import die_with_launcher, launch, world_of
from trainer_svc.worker.llm import LLMJob
from trainer_svc.worker.reporter import EventReporter
from trainer_svc.worker.segmentation import SegmentationJob
from trainer_svc.worker.settings import WorkerSettings

logger = logging.getLogger("automl.worker")

# Each model family's training driver (the registry says a type's family).
DRIVERS: dict[model_types.Family, type[Job]] = {
    "classifier": ClassifierJob,
    "llm": LLMJob,
    "detector": DetectionJob,
    "segmenter": SegmentationJob,
}


def read_spec(argv: list[str]) -> JobSpec:
    text = Path(argv[1]).read_text() if len(argv) > 1 else os.environ.get("AUTOML_JOB_SPEC", "")
    return JobSpec.model_validate_json(text)


def _folder(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


def store_scope(spec: JobSpec) -> StoreScope:
    """What this job may touch in the store: its inputs (read) and its own output prefix (read and write)."""
    return StoreScope.of(
        read=(
            _folder(spec.base_model.store_prefix),
            spec.train.data_key,
            spec.test.data_key if spec.test else None,
            spec.split_key,
            _folder(spec.parent.artifacts_prefix) if spec.parent else None,
            # an image snapshot's files (its rows name them by content hash)
            org_images_prefix(spec.org_id) if model_types.info(spec.model_type).input_kind == "image" else None,
        ),
        write=(_folder(spec.output_prefix),),
    )


def peer_lost(error: BaseException) -> bool:
    """A collective failed because a peer's connection went: gloo raises a plain RuntimeError for it."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        mark in text for mark in ("Connection closed by peer", "Connection reset by peer", "gloo/transport", "NCCL")
    )


def main(argv: list[str] | None = None) -> int:
    argv = argv or sys.argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # no load reports, no bars
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        spec = read_spec(argv)
    except (OSError, ValidationError) as error:
        print(f"unusable job spec: {error}", file=sys.stderr)
        return WorkerExit.BAD_INPUT
    settings = WorkerSettings()
    topology = world_of(spec, settings)
    if topology.size > 1 and "LOCAL_RANK" not in os.environ:
        return launch(argv[1:], topology, spec.job_id)
    if "LOCAL_RANK" in os.environ:
        die_with_launcher()
    reporter = EventReporter(spec.events_url, spec.token, settings.event_attempts)
    try:
        world = init_from_environment(settings.device, settings.dist_backend)
    except DeviceUnavailable as error:  # a GPU job in a CPU image, a node without its driver
        reporter.send("failed", str(error))
        reporter.close()
        return WorkerExit.FAILED
    store = ScopedStore(asyncio.run(create_store(settings)), store_scope(spec))
    job = DRIVERS[model_types.info(spec.model_type).family](spec, settings, store, reporter, world)
    try:
        job.run()
        return WorkerExit.OK
    except TrainingCancelled:
        job.report("cancelled", "stopped on request")
        return WorkerExit.OK
    except TrainingInterrupted:
        job.report("log", "interrupted (SIGTERM): checkpoint saved; the next attempt resumes from it")
        return WorkerExit.INTERRUPTED
    except BadInput as error:
        reporter.send("failed", f"bad input: {error}")
        return WorkerExit.BAD_INPUT
    except Exception as error:  # any failure is reported with its reason; the process still exits non-zero
        if world.distributed and peer_lost(error):  # another rank went away (killed, its node lost) first
            logger.warning("rank %d lost a peer rank: %s", world.rank, error)
            return WorkerExit.INTERRUPTED  # the launcher reports the rank that ended first
        logger.exception("job failed")
        reason = f"{type(error).__name__}: {error}"
        reporter.send("failed", reason, traceback=traceback.format_exc()[-4000:])  # whichever rank it was
        return WorkerExit.FAILED
    finally:
        job.io(store.close())
        job.close()
        reporter.close()
        if world.distributed:
            leave()


if __name__ == "__main__":
    sys.exit(main())
