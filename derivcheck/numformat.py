"""One number format for every table and message."""

from __future__ import annotations


def fmt_number(value: float | None, digits: int = 12, missing: str = "-") -> str:
    """A number in ``digits`` significant digits (``g`` format); ``missing`` for no value.

    >>> fmt_number(1 / 3, 4), fmt_number(None)
    ('0.3333', '-')
    """
    return missing if value is None else f"{value:.{digits}g}"
