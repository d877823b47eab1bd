"""Task families behind one protocol (k15core.tasks.base.Task), looked up by name."""
from __future__ import annotations

import inspect

from k15core.registry import Registry
from k15core.tasks.arithmetic import ArithmeticTask
from k15core.tasks.base import Problem, Task
from k15core.tasks.chains import ChainsTask
from k15core.tasks.code import CodeTask
from k15core.tasks.gym import GymTask
from k15core.tasks.math import MathTask
from k15core.tasks.recurrence import RecurrenceTask

TASKS: Registry = Registry("task")
TASKS.register("arithmetic")(ArithmeticTask)
TASKS.register("chains")(ChainsTask)
TASKS.register("recurrence")(RecurrenceTask)
TASKS.register("math")(MathTask)
TASKS.register("code")(CodeTask)
TASKS.register("gym")(GymTask)


def make_task(cfg) -> Task:
    """Build the task named by a TaskConfig."""
    cls = TASKS.get(cfg.name)
    kwargs = dict(levels=tuple(cfg.levels), eval_per_level=cfg.eval_per_level, eval_seed=cfg.eval_seed)
    if getattr(cfg, "path", "") and "path" in inspect.signature(cls).parameters:  # file-based tasks (math)
        kwargs["path"] = cfg.path
    if "dataset" in inspect.signature(cls).parameters:  # reasoning-gym
        kwargs["dataset"] = getattr(cfg, "gym_dataset", "")
    return cls(**kwargs)


__all__ = ["TASKS", "Problem", "Task", "make_task", "check_reference", "compares_final_answer", "ArithmeticTask", "ChainsTask", "RecurrenceTask", "MathTask", "CodeTask", "GymTask"]


def compares_final_answer(task_name: str) -> bool:
    """Whether the task's verifier compares a final answer with the reference (most tasks), rather than
    running tests (code) or a generator's own scorer (gym). Unknown tasks are assumed to compare one."""
    return task_name not in TASKS.names() or getattr(TASKS.get(task_name), "final_answer", True)


def check_reference(task_name: str, reference: str) -> str | None:
    """Why `reference` cannot be a reference answer of the task, or None when it can.

    A task with its own rule says (`task.check_reference`, e.g. code: well-formed test cases). Otherwise
    a reference must survive the task's own verifier: a response that states it ("Answer: <ref>")
    verifies against it. That catches a corrected answer the verifier could never match, which
    would silently turn a prompt into one no response can solve.
    """
    if task_name not in TASKS.names():
        return f"unknown task {task_name!r}: no verifier to check the answer with"
    task = TASKS.get(task_name)()
    if not reference.strip():
        return "the reference answer is empty"
    if hasattr(task, "check_reference"):
        return task.check_reference(reference.strip())
    if task.verify(f"Answer: {reference.strip()}", reference.strip()) != 1.0:
        return f"the {task_name} verifier cannot match {reference.strip()!r} (expected a final answer like the task's own)"
    return None
