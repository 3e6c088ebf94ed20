"""Gateway: orgs, API keys, quotas, the public entry."""
