"""Shared building blocks of every AutoML service."""
