"""The training worker: the one entrypoint both job backends run (``python -m trainer_svc.worker SPEC``)."""
