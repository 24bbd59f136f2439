"""The errors the library raises for bad input, each with a message that says why and what to do.

They live in this leaf module so that every layer can raise them without importing a heavier one.
"""


class DataError(ValueError):
    """A dataset or image file that cannot be used, with a message saying why."""


class ModelError(ValueError):
    """A model or checkpoint that cannot be used, with a message saying why."""


class LayerError(KeyError):
    """An unknown layer name; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])
