from tests.services.conftest import platform, tiny_bert

__all__ = ["platform", "tiny_bert"]
