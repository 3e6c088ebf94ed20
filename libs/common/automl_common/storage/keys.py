"""Object keys more than one service writes or reads: an org's images (dataset-svc stores them; training
workers and batch predictions read them)."""

from __future__ import annotations


def org_images_prefix(org_id: str) -> str:
    return f"orgs/{org_id}/images/"


def image_key(org_id: str, sha256: str) -> str:
    return org_images_prefix(org_id) + sha256


def thumbnail_key(org_id: str, sha256: str, size: int, kind: str = "") -> str:
    """A preview's key; ``kind`` tells previews of the same bytes drawn differently apart (``mask``)."""
    return f"orgs/{org_id}/thumbnails/{sha256}-{size}{f'-{kind}' if kind else ''}"
