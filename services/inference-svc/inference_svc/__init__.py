"""Inference: deployments, async tasks, batch predictions."""
