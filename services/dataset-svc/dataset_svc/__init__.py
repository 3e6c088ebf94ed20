"""Datasets: uploads, column mapping, rows, image assets."""
