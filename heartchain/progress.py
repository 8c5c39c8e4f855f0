"""A small progress bar on stderr for long CLI work (seeding, verifying)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, label: str, total: int = 0, *, stream: object = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, done: int, total: int | None = None, label: str | None = None) -> None:
        if total:
            self.total = total
        if label:
            self.label = label
        now = time.monotonic()
        if now - self._last < 0.2 and done != self.total:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-9)
        if self.total:
            filled = int(30 * done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r{self.label:<14} [{bar}] {done}/{self.total} ({rate:,.0f}/s)"
        else:
            text = f"\r{self.label:<14} {done} ({rate:,.0f}/s)"
        print(text, end="", file=self.stream, flush=True)  # type: ignore[call-overload]

    def close(self) -> None:
        print(file=self.stream, flush=True)  # type: ignore[call-overload]
