"""Helpers the test tiers share: real PostgreSQL databases, Redis, keys and tokens."""
