"""Bad values quoted, and names suggested, for one-line error messages."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _q(value: object, width: int = 80) -> str:
    """A value from the file, quoted with ``repr`` and cut to ``width`` characters."""
    return _short(repr(value), width)


def nearest(word: str, options: Sequence[str]) -> str:
    """' (did you mean X?)' for the closest option, or ''."""
    hint = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {hint[0]!r}?)" if hint else ""
