"""The reverse proxy from the public ``/v1/...`` paths to the service that owns each."""
