"""Failing fast and logging sparingly while a dependency (database, Redis) is down or hung.

`Breaker`: after a failure, calls are refused at once for `cooldown` seconds instead of each
waiting out its own timeout (a frozen PostgreSQL used to stall every authenticated call 29 s).
`ThrottledLog`: at most one line per interval, counting what it held back, so that an outage
does not write one ERROR line per request. Both are used by `auth` and by `storage`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

LOG_INTERVAL_SECONDS = 10.0


class Breaker:
    """Open for `cooldown` seconds after `trip()`; thread-safe (the audit writer is a thread)."""

    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._open_until = float("-inf")
        self.trips = 0

    @property
    def is_open(self) -> bool:
        return self._clock() < self._open_until

    def trip(self) -> None:
        self.trips += 1
        self._open_until = self._clock() + self.cooldown

    def reset(self) -> None:
        self._open_until = float("-inf")


class ThrottledLog:
    """`log.log(...)` at most once per `interval`; the next line says how many were held back."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last = float("-inf")
        self.suppressed = 0

    def log(self, level: int, message: str, *args: Any, **extra: Any) -> bool:
        """Log now if the interval has passed (returns True), else count the line as held back."""
        with self._lock:
            now = self._clock()
            if now - self._last < self.interval:
                self.suppressed += 1
                return False
            held, self.suppressed, self._last = self.suppressed, 0, now
        if held:
            message += " (%d similar line(s) held back)"
            args = (*args, held)
        self._logger.log(level, message, *args, extra=extra or None)
        return True

    def error(self, message: str, *args: Any, **extra: Any) -> bool:
        return self.log(logging.ERROR, message, *args, **extra)

    def warning(self, message: str, *args: Any, **extra: Any) -> bool:
        return self.log(logging.WARNING, message, *args, **extra)
