"""One plain line per RL iteration (`k15 train --progress-lines`), for logs that people and the studio's Launch tab
read: a progress bar written to a file is a smear of carriage returns, and says nothing of which run it is.

Every line starts with `RL run <id>`, so whoever reads the log knows the run's id in the store from the first line
on (`run_id_in`), also when the run dies before its first iteration ends.

>>> lines = ProgressLines(out="rl-2", clock=iter([0.0, 4.2]).__next__)
>>> lines.start(7, iteration=0, total=2)
'RL run 7: iterations 1 to 2; the policy will be saved as rl-2'
>>> lines.iteration(0, {"rl/reward": 0.31, "rl/accuracy": 0.25, "rl/len_mean": 57.4, "rl/truncated": 0.5})
'RL run 7 iteration 1/2: reward 0.310, accuracy 0.25, mean length 57, truncated 50%, 4.2 s'
>>> run_id_in("loading...\\nRL run 7: iterations 1 to 2; the policy will be saved as rl-2\\n")
7
"""
from __future__ import annotations

import math
import re
import time
from typing import Callable

RUN_LINE = re.compile(r"^RL run (\d+)\b", re.MULTILINE)

# (metric, label, format) in the order they are printed; a metric the iteration did not record prints nothing
SHOWN = (("rl/reward", "reward", "{:.3f}"), ("rl/accuracy", "accuracy", "{:.2f}"), ("rl/len_mean", "mean length", "{:.0f}"),
         ("rl/truncated", "truncated", "{:.0%}"))


class ProgressLines:
    """The lines of one run; `start` and `iteration` return the line they print (printed and flushed at once, so a
    log file holds it while the run trains on)."""

    def __init__(self, out: str, clock: Callable[[], float] = time.perf_counter, echo: Callable[[str], None] = lambda line: None):
        self.out, self.clock, self.echo = out, clock, echo
        self.run_id, self.total, self.since = 0, 0, 0.0

    def start(self, run_id: int, iteration: int, total: int) -> str:
        self.run_id, self.total, self.since = run_id, total, self.clock()
        return self._say(f"RL run {run_id}: iterations {iteration + 1} to {total}; the policy will be saved as {self.out}")

    def iteration(self, iteration: int, metrics: dict[str, float]) -> str:
        """After iteration `iteration` (0-based, as the store counts them; the line counts from 1 like a progress bar)."""
        now = self.clock()
        shown = [f"{label} {fmt.format(metrics[key])}" for key, label, fmt in SHOWN if not math.isnan(metrics.get(key, math.nan))]
        line = f"RL run {self.run_id} iteration {iteration + 1}/{self.total}: " + ", ".join(shown + [f"{now - self.since:.1f} s"])
        self.since = now
        return self._say(line)

    def _say(self, line: str) -> str:
        self.echo(line)
        return line


def run_id_in(log: str) -> int | None:
    """The run id of the first `RL run <id>` line of a log, or None before there is one."""
    found = RUN_LINE.search(log)
    return int(found.group(1)) if found else None
