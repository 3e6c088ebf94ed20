"""Batch prediction over a snapshot or a dataset, results to the object store."""
