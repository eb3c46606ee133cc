"""Reads a cloud assembly and resolves its templates: the first wing (read, judge, render)."""
