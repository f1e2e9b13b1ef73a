"""A tiny text progress bar for long CLI work (a year of reports, bulk generation)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

WIDTH = 30


class Progress:
    """`with Progress(total, "reports") as bar: bar.advance()` — one line on stderr."""

    # On a terminal the line is redrawn in place at most ten times a second; elsewhere (logs,
    # CI) a line is printed at every tenth of the way, so the output stays short.

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._printed_tenths = -1
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._draw(force=True)
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def advance(self, steps: int = 1) -> None:
        """Count `steps` more done."""
        self.set(self.done + steps)

    def set(self, done: int) -> None:
        """Set how many are done."""
        self.done = min(done, self.total) if self.total else done
        self._draw()

    def line(self) -> str:
        """The bar as text: 'reports [#####-----]  6/12  50%  0:04'."""
        share = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * share)
        elapsed = int(time.monotonic() - self.started)
        return (
            f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] "
            f"{self.done}/{self.total} {share * 100:3.0f}% {elapsed // 60}:{elapsed % 60:02d}"
        )

    def _draw(self, *, force: bool = False) -> None:
        if self.tty:
            now = time.monotonic()
            if force or now - self._drawn_at >= 0.1:
                self._drawn_at = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
            return
        tenths = int(10 * self.done / self.total) if self.total else 10
        if force or tenths > self._printed_tenths:
            self._printed_tenths = tenths
            self.stream.write(self.line() + "\n")
            self.stream.flush()
