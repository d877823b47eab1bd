"""How an RL run is asked to stop: SIGTERM lets the iteration in progress finish, a second one (or Ctrl-C) stops at once.

An iteration changes the weights (its optimiser step) before it stores its trajectories and metrics, so a stop
in the middle of one leaves a policy one step ahead of the store. Chosen: the first SIGTERM only raises a flag,
which the loop reads between iterations (`StopRequest.agreed`); there the state is whole and is checkpointed.
Whoever cannot wait (a second SIGTERM, Ctrl-C) gets `StopTraining` / KeyboardInterrupt at once, and the
interrupted iteration is discarded: the trainer keeps the last checkpoint, and a resume rolls the store back to it.
"""
from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from k15core import dist


class StopTraining(KeyboardInterrupt):
    """A stop asked for by SIGTERM (a KeyboardInterrupt, so every caller treats it like Ctrl-C): `train`
    checkpoints if it stopped between iterations, marks the run stopped and re-raises."""


class StopRequest:
    """While entered (in the main thread; elsewhere signals cannot be caught and it does nothing), SIGTERM sets
    `requested`; a SIGTERM when one is already pending raises StopTraining where the program is."""

    NOTICE = b"SIGTERM: stopping after the current iteration (its checkpoint is written); SIGTERM again stops at once and discards it\n"

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None  # what signal.signal returned: a handler, SIG_DFL/SIG_IGN, or None (set from C)
        self._installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise StopTraining()
        self.requested = True
        os.write(2, self.NOTICE)  # not print(): the handler may run in the middle of another write to stderr

    def agreed(self) -> bool:
        """Whether to stop now, the same answer on every rank (each gets its own SIGTERM, not at the same
        moment; a rank that stopped alone would leave the others waiting in the next collective)."""
        return dist.all_reduce_sum(float(self.requested)) > 0

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous)
            self._installed = False
