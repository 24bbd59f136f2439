"""The command line, ``python -m detector``."""
