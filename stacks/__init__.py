"""Composition: the per-environment Stage, its stacks, and the typed config model."""
