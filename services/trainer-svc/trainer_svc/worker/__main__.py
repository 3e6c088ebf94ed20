"""``python -m trainer_svc.worker SPEC_PATH`` (or the spec JSON in ``AUTOML_JOB_SPEC``): run one job.

Exit codes: 0 succeeded or cancelled, 1 failed (reported to trainer-svc with the reason), 2 unusable spec."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from pathlib import Path

from pydantic import ValidationError
from transformers.utils import logging as transformers_logging

from automl_common.storage import ScopedStore, StoreScope, create_store
from automl_proto.training import JobSpec
from modelkit.training.trainer import TrainingCancelled
from trainer_svc.worker.reporter import EventReporter
from trainer_svc.worker.run import Job
from trainer_svc.worker.settings import WorkerSettings


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
        ),
        write=(_folder(spec.output_prefix),),
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # no load reports, no bars
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        spec = read_spec(argv or sys.argv)
    except (OSError, ValidationError) as error:
        print(f"unusable job spec: {error}", file=sys.stderr)
        return 2
    settings = WorkerSettings()
    reporter = EventReporter(spec.events_url, spec.token, settings.event_attempts)
    store = ScopedStore(asyncio.run(create_store(settings)), store_scope(spec))
    job = Job(spec, settings, store, reporter)
    try:
        job.run()
        return 0
    except TrainingCancelled:
        reporter.send("cancelled", "stopped on request")
        return 0
    except Exception as error:  # any failure is reported with its reason; the process still exits non-zero
        logging.getLogger("automl.worker").exception("job failed")
        reason = f"{type(error).__name__}: {error}"
        reporter.send("failed", reason, traceback=traceback.format_exc()[-4000:])
        return 1
    finally:
        job.io(store.close())
        job.close()
        reporter.close()


if __name__ == "__main__":
    sys.exit(main())
