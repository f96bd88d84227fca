"""Copying one image between registries, and looking at one: the one copy path."""
