"""Offline report over a synthesized cloud assembly."""
