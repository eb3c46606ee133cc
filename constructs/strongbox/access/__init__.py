"""Judges a cloud assembly: who can make which call, through every policy layer (the second
wing: it imports `strongbox.assembly`, and `strongbox.report` imports it)."""
