"""Training: base models, training runs, events, metrics."""
