"""Judges a cloud assembly: who can make which call, through every policy layer."""
