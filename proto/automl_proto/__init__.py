"""Contracts shared across service boundaries. Their JSON Schemas live in ``proto/schemas`` and CI checks
that the committed files match these models (``make proto`` regenerates them)."""
