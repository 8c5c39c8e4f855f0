"""A small progress bar on stderr for long CLI work (seeding, verifying)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, total: int = 0, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self._last = 0.0
        self._start = time.monotonic()
        self._done: int | None = None  # the last count given, drawn or not
        self._drawn: int | None = None

    def update(self, done: int, total: int | None = None, label: str | None = None) -> None:
        if label and label != self.label:
            # A new phase: finish the last one's line at its final count, then start afresh
            # (a phase without a total never borrows the previous phase's).
            if self._done is not None:
                if self._done != self._drawn:
                    self._draw(self._done, time.monotonic())
                print(file=self.stream, flush=True)
            self.label, self.total, self._done = label, 0, None
            self._start = time.monotonic()
        if total:
            self.total = total
        self._done = done
        now = time.monotonic()
        if now - self._last < 0.2 and done != self.total:
            return
        self._draw(done, now)

    def _draw(self, done: int, now: float) -> None:
        self._last, self._drawn = now, done
        rate = done / max(now - self._start, 1e-9)
        if self.total:
            filled = int(30 * done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r{self.label:<14} [{bar}] {done}/{self.total} ({rate:,.0f}/s)"
        else:
            text = f"\r{self.label:<14} {done} ({rate:,.0f}/s)"
        print(text, end="", file=self.stream, flush=True)

    def close(self) -> None:
        if self._done is not None and self._done != self._drawn:
            self._draw(self._done, time.monotonic())
        print(file=self.stream, flush=True)
