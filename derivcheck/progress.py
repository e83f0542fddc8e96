"""A one-line progress bar for long runs on a terminal; nothing at all anywhere else.

It draws on its own stream (stderr), only when that stream is a terminal, ``NO_COLOR`` is not
set, ``TERM`` is not ``dumb``, and the run has lasted longer than ``DELAY`` seconds; so piped
output, CI logs and short runs stay plain text.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import TextIO

#: Seconds before the bar first appears (a short run never shows one).
DELAY = 0.5
#: Characters of the bar itself.
WIDTH = 24


def wanted(stream: TextIO) -> bool:
    """Whether a progress bar belongs on ``stream``: a terminal, without NO_COLOR, not dumb.

    Examples
    --------
    >>> import io
    >>> wanted(io.StringIO())
    False
    """
    try:
        is_terminal = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return is_terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class Progress:
    """Draws ``[#####.....] done/total  elapsed  running case`` on one line, redrawn in place.

    Call ``clear()`` before printing anything else to the same terminal, and ``close()`` at the
    end. With ``enabled=False`` (or on a stream that is not a terminal) every method is a no-op.
    """

    def __init__(self, total: int, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.start = time.monotonic()
        self.shown = False
        self.done = 0

    def update(self, done: int | None = None, running: Sequence[str] = ()) -> None:
        """Redraw with ``done`` cases finished and ``running`` (case ids) in flight."""
        if done is not None:
            self.done = done
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        if elapsed < DELAY:
            return
        filled = WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (WIDTH - filled)
        line = f"[{bar}] {self.done}/{self.total}  {elapsed:.0f}s"
        if running:
            line += f"  running {running[0]}" + (f" (+{len(running) - 1})" if len(running) > 1 else "")
        columns = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r" + line[: max(10, columns - 1)] + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the bar (before other output goes to the terminal)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def close(self) -> None:
        """Erase the bar for good."""
        self.clear()
        self.enabled = False
