"""Datasets: the built-in ones (offline sources), folders of pictures, and one loader for both."""
