"""Shared ML code: evaluation metrics and reports, model cards."""
