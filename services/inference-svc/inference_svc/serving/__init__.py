"""What runs on Ray Serve (replicas loading a model from the object store) and how inference-svc drives it."""
