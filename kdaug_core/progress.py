"""Progress on long work: a tqdm bar on a terminal, a log line every 30 s elsewhere (CI logs, workers,
batch jobs), so a log shows how far the work is and how fast it goes."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("kdaug")


class Progress:
    """`total` and `initial` (work done before, e.g. by a run this one resumes) give the position as
    N/total; `bar` None shows a bar only on a terminal; update() takes a status (e.g. the loss) to show."""

    def __init__(
        self,
        desc: str,
        unit: str = "rows",
        total: int | None = None,
        initial: int = 0,
        bar: bool | None = None,
        log_every_s: float = 30.0,
    ):
        self.desc, self.unit, self.total, self.log_every_s = desc, unit, total, log_every_s
        self.position, self.count = initial, 0  # where the work stands; what this run did
        self.start = self.last_log = time.time()
        self._bar = None
        if sys.stderr.isatty() if bar is None else bar:
            from tqdm import tqdm

            self._bar = tqdm(
                desc=desc, unit=f" {unit}", total=total, initial=initial, mininterval=1.0, leave=False, file=sys.stderr
            )

    def update(self, n: int = 1, **status) -> None:
        self.count += n
        self.position += n
        if self._bar is not None:
            self._bar.update(n)
            if status:
                self._bar.set_postfix(status, refresh=False)
        elif time.time() - self.last_log >= self.log_every_s:
            self.last_log = time.time()
            rate = self.count / max(self.last_log - self.start, 1e-9)
            where = f"{self.position}/{self.total}" if self.total is not None else str(self.position)
            shown = "".join(f", {k} {v}" for k, v in status.items())
            log.info("%s: %s %s (%.1f %s/s%s)", self.desc, where, self.unit, rate, self.unit, shown)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
