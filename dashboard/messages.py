"""What the browser is shown of text that did not come from us, and of errors.

Streamlit renders the text of ``st.error``, ``st.warning``, ``st.caption``, ``st.markdown`` and
widget labels as Markdown: an upload named ``![t](https://x.example/t.gif).png`` was drawn as an
image fetched from that address. Every string that a user typed or a file holds (names of uploads,
folders, classes, layers and models, and the error messages that quote them) goes through
:func:`literal` before it reaches one of them, and is then shown as it is.

An error the code expects (bad file, bad model: the library's DataError / ModelError) is shown as
its message, one line. Anything else is one line with a short id; the traceback goes to the
server's log under that id, so a student can quote it and the teacher find it, and the browser
never sees a server path. ``client.showErrorDetails = "none"`` (.streamlit/config.toml) covers
what escapes even this.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from contextlib import contextmanager
from typing import Iterator

from detector.errors import DataError, LayerError, ModelError, printable

log = logging.getLogger("dashboard")
EXPECTED = (DataError, ModelError, LayerError)  # their messages are written for the user
# CommonMark lets a backslash escape any ASCII punctuation. Escaped: what makes emphasis, code, links
# and pictures ([ ]), HTML (< >), entities (&), Streamlit's $ maths and :colour[...] directives, ~
# strikethrough, and the colon of a bare URL, which GFM would turn into a link. The characters that
# matter only at the start of a line (lists, headings, quotes) are escaped there. The rest (. - ( ) :
# , ') stays as it is, so that messages read the same in the page's source and in tests.
_INLINE = re.compile(r"([\\`*_{}\[\]<>#+~$&|])|(?<=[A-Za-z]):(?=//)|(?<=\bwww)\.", re.IGNORECASE)
_LINE_START = re.compile(r"^(\s*(?:-|\d+[.)]|=))(?=\s|$|=)")  # a list item "- a", "1. a", "1) a"; "==="


def literal(text: object) -> str:
    """``text`` for any Streamlit element that renders Markdown, shown exactly as it is: one line
    (control characters and bytes that are not UTF-8 as backslash escapes, :func:`detector.errors.printable`)
    with every Markdown character escaped.

    >>> print(literal("![t](http://x.example/t.gif).png"), literal("- *a* <b>"), literal("1. a"))
    !\\[t\\](http\\://x.example/t.gif).png \\- \\*a\\* \\<b\\> 1\\. a
    """
    escaped = _INLINE.sub(lambda match: "\\" + match.group(0), printable(text))
    return _LINE_START.sub(lambda match: match.group(1)[:-1] + "\\" + match.group(1)[-1], escaped)


def chart_text(text: object) -> str:
    """``text`` for a Plotly figure (a trace's name, a category, a title), shown as it is: Plotly reads
    a few HTML tags (``<a href>``, ``<b>``, ``<br>``) in any text, so ``<``, ``>`` and ``&`` become entities.

    >>> chart_text("<a href='https://x.example'>cats</a> & dogs")
    "&lt;a href='https://x.example'&gt;cats&lt;/a&gt; &amp; dogs"
    """
    return html.escape(printable(text), quote=False)


def code(text: object) -> str:
    """``text`` as inline code: shown as it is, in a fence longer than any run of backticks inside it.

    >>> code("a`b")
    '``a`b``'
    """
    text = printable(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def error_id() -> str:
    return secrets.token_hex(4)


def describe(error: BaseException, doing: str, quoted: tuple[type, ...] = ()) -> str:
    """One line for the browser about ``error``, which happened while ``doing``. The library's own
    errors are their message; any other is logged with its traceback under the id the line gives,
    and only its type is shown, or, for the ``quoted`` types (a user model's shape mismatch that its
    author needs to read), its first line too."""
    if isinstance(error, EXPECTED):
        return literal(error)
    ident = error_id()
    log.error("error %s while %s", ident, printable(doing), exc_info=error)
    lines = str(error).strip().splitlines()
    said = f": {literal(lines[0][:300])}" if isinstance(error, quoted) and lines else ""
    return (f"{type(error).__name__}{said} (while {doing}; the server's log has the details under the id "
            f"**{ident}**)")


def show_error(error: BaseException, doing: str, prefix: str = "", where=None, quoted: tuple[type, ...] = ()) -> None:
    """``st.error`` (or ``where.error``, e.g. ``st.sidebar``) of :func:`describe`, after ``prefix``
    (our own Markdown: callers pass user text in it through :func:`literal`)."""
    import streamlit as st

    (where or st).error(prefix + describe(error, doing, quoted))


def show_warning(error: BaseException, doing: str, prefix: str = "", where=None) -> None:
    import streamlit as st

    (where or st).warning(prefix + describe(error, doing))


@contextmanager
def errors_shown(doing: str) -> Iterator[None]:
    """Any exception inside shown as one line (Streamlit's st.stop and st.rerun pass: they are no
    Exception). For the whole page in app.py: what no part of the page caught ends here."""
    try:
        yield
    except Exception as error:
        show_error(error, doing, "Something went wrong: ")
