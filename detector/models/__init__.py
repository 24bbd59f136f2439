"""Classifiers: the built-in architectures, their training, checkpoints and users' own models."""
