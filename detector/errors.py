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


def printable(text: object) -> str:
    """``text`` as it can be printed and shown, whatever it holds: a file name's bytes that are not
    UTF-8 (which Python keeps as lone surrogates) and control characters become backslash escapes
    (``\\xff``, ``\\x00``, ``\\n``), so that a name is written as one line in any UTF-8 output.

    >>> printable("caf\\udcc3.png"), printable("a\\nb")
    ('caf\\\\xc3.png', 'a\\\\nb')
    """
    text = str(text)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that no file name's bytes make
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
