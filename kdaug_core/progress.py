"""Progress on long work: a tqdm bar on a terminal, a log line every 30 s elsewhere (CI logs, workers)."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("kdaug")


class Progress:
    def __init__(self, desc: str, unit: str = "rows", log_every_s: float = 30.0):
        self.desc, self.unit, self.log_every_s = desc, unit, log_every_s
        self.count, self.start, self.last_log = 0, time.time(), time.time()
        self._bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(desc=desc, unit=f" {unit}", mininterval=1.0, leave=False)

    def update(self, n: int) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
        elif time.time() - self.last_log >= self.log_every_s:
            self.last_log = time.time()
            rate = self.count / max(self.last_log - self.start, 1e-9)
            log.info("%s: %d %s (%.0f %s/s)", self.desc, self.count, self.unit, rate, self.unit)
