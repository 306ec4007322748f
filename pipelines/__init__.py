"""Beam transforms and pipelines: thin wrappers over kdaug_core's pure functions."""
