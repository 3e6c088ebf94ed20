"""API keys: random, prefixed, stored hashed, scoped, revocable."""
