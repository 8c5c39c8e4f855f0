"""The log's clock: one injectable object, so tests and the demo can move time forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC, optionally shifted forward (waiting periods, notice windows)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the log clock never moves backwards")
        self._offset += delta


class FixedClock(Clock):
    """A clock that stands still until advanced; for tests and replays."""

    def __init__(self, moment: datetime) -> None:
        super().__init__()
        self._moment = moment.astimezone(UTC)

    def now(self) -> datetime:
        return self._moment

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the log clock never moves backwards")
        self._moment += delta
