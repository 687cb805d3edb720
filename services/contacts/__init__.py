"""The contacts service: one shared contact base, filtered per component by field policies."""
