"""`strongbox verify`: compares one deployed environment with its cloud assembly (read-only)."""
