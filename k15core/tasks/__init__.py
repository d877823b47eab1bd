"""Task families behind one protocol (k15core.tasks.base.Task), looked up by name."""
from __future__ import annotations

from k15core.registry import Registry
from k15core.tasks.arithmetic import ArithmeticTask
from k15core.tasks.base import Problem, Task
from k15core.tasks.chains import ChainsTask
from k15core.tasks.recurrence import RecurrenceTask

TASKS: Registry = Registry("task")
TASKS.register("arithmetic")(ArithmeticTask)
TASKS.register("chains")(ChainsTask)
TASKS.register("recurrence")(RecurrenceTask)


def make_task(cfg) -> Task:
    """Build the task named by a TaskConfig."""
    cls = TASKS.get(cfg.name)
    return cls(levels=tuple(cfg.levels), eval_per_level=cfg.eval_per_level, eval_seed=cfg.eval_seed)


__all__ = ["TASKS", "Problem", "Task", "make_task", "ArithmeticTask", "ChainsTask", "RecurrenceTask"]
