"""Snapshots: immutable validated training exports."""
