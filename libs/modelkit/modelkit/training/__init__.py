"""Training loop pieces shared by every method: data, schedule, evaluation, selection, checkpoints."""
