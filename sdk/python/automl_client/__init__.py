"""The AutoML platform's Python SDK: ``Client`` (sync) and ``AsyncClient``, typed with the platform's own
contracts (``automl_proto``), and the ``automl`` CLI built on it."""

from automl_client import errors
from automl_client._async.client import AsyncClient
from automl_client._base import Download, Page
from automl_client._sync.client import Client
from automl_client.config import Config, resolve

__all__ = ["AsyncClient", "Client", "Config", "Download", "Page", "errors", "resolve"]
