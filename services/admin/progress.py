"""A progress bar on stderr for uploads (bytes) and exports (rows).

Our own forty lines rather than tqdm or rich: neither is a runtime dependency
of the mesh (rich comes only with the test tools), a bar needs no more than
this, and the text it prints stays ours to test. On a terminal the line is
redrawn in place at most every 1% (or 100 rows); elsewhere (a pipe, a log
file) only the final line is written, so a log never fills with redraws.
"""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30
ROWS_PER_DRAW = 100  # without a total, redraw every this many units


class Progress:
    """Counts units done (of a known total or not) and shows them on `stream`."""

    def __init__(
        self, label: str, total: int | None = None, unit: str = "rows", stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()
        self._shown = -1

    def advance(self, amount: int) -> None:
        """Adds `amount` units; redraws when it moves the bar visibly."""
        self.done += amount
        if not self._live:
            return
        step = self.done * 100 // self.total if self.total else self.done // ROWS_PER_DRAW
        if step != self._shown:
            self._shown = step
            self._stream.write("\r" + self.line())
            self._stream.flush()

    def finish(self) -> None:
        """The last line, whatever the stream; ends it with a newline."""
        self._stream.write(("\r" if self._live else "") + self.line() + "\n")
        self._stream.flush()

    def line(self) -> str:
        """e.g. `import [##########----------]  33% 1.2 / 3.6 MB` or `export 1,200 rows`."""
        if not self.total:
            return f"{self.label} {self._amount(self.done)}"
        share = min(self.done / self.total, 1.0)
        filled = int(share * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        return (
            f"{self.label} [{bar}] {share:4.0%} "
            f"{self._amount(self.done, unit=False)} / {self._amount(self.total)}"
        )

    def _amount(self, value: int, unit: bool = True) -> str:
        if self.unit == "bytes":
            text = f"{value / 1e6:.1f}"
            return f"{text} MB" if unit else text
        return f"{value:,} {self.unit}" if unit else f"{value:,}"
