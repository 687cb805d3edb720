"""Plumbing shared by every service of the mesh: identity, settings, gRPC, database."""
