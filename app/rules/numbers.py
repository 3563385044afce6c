"""Whole numbers written in request text (query parameters, headers, form fields)."""

from __future__ import annotations


def whole_number(text: str, max_digits: int | None = None) -> int | None:
    """The number written in `text` with ASCII digits only (at most max_digits), else None."""
    # isascii: str.isdigit() is true of "²" (a latin-1 header byte), which int() refuses
    if not (text.isascii() and text.isdigit()):
        return None
    if max_digits is not None and len(text) > max_digits:
        return None
    return int(text)
