"""Task families behind one protocol (k15core.tasks.base.Task), looked up by name."""
from __future__ import annotations

import functools
import inspect

from k15core.errors import K15Error
from k15core.registry import Registry
from k15core.tasks.arithmetic import ArithmeticTask
from k15core.tasks.base import Problem, Task
from k15core.tasks.dataset_source import describe, read_prompt_source
from k15core.tasks.prompt_file import PromptFileReport, problems_or_error
from k15core.tasks.chains import ChainsTask
from k15core.tasks.code import CodeTask
from k15core.tasks.gym import GymTask
from k15core.tasks.math import MathTask
from k15core.tasks.mental import MentalTask
from k15core.tasks.recurrence import RecurrenceTask
from k15core.tasks.visual_recurrence import VisualRecurrenceGridTask, VisualRecurrenceTask

TASKS: Registry = Registry("task")
TASKS.register("arithmetic")(ArithmeticTask)
TASKS.register("chains")(ChainsTask)
TASKS.register("recurrence")(RecurrenceTask)
TASKS.register("math")(MathTask)
TASKS.register("code")(CodeTask)
TASKS.register("gym")(GymTask)
TASKS.register("mental")(MentalTask)
TASKS.register("visual-recurrence")(VisualRecurrenceTask)
TASKS.register("visual-recurrence-grid")(VisualRecurrenceGridTask)


def make_task(cfg) -> Task:
    """Build the task named by a TaskConfig."""
    cls = TASKS.get(cfg.name)
    kwargs = dict(levels=tuple(cfg.levels), eval_per_level=cfg.eval_per_level, eval_seed=cfg.eval_seed)
    if getattr(cfg, "path", "") and "path" in inspect.signature(cls).parameters:  # file-based tasks (math)
        kwargs["path"] = cfg.path
    if "dataset" in inspect.signature(cls).parameters:  # reasoning-gym
        kwargs["dataset"] = getattr(cfg, "gym_dataset", "")
    return cls(**kwargs)


__all__ = ["TASKS", "Problem", "Task", "make_task", "check_reference", "read_checked_prompt_file", "load_checked_prompt_file", "problems_from_dataset", "store_prompt_images", "compares_final_answer", "ArithmeticTask", "ChainsTask", "RecurrenceTask", "MathTask", "CodeTask", "GymTask", "MentalTask", "VisualRecurrenceTask"]


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
    task = _checker(task_name)
    if not reference.strip():
        return "the reference answer is empty"
    if hasattr(task, "check_reference"):
        return task.check_reference(reference.strip())
    if task.verify(f"Answer: {reference.strip()}", reference.strip()) != 1.0:
        return f"the {task_name} verifier cannot match {reference.strip()!r} (expected a final answer like the task's own)"
    return None


@functools.lru_cache(maxsize=None)
def _checker(task_name: str) -> Task:
    """One default instance per task family for checking references: building one (a held-out set, a prompt
    file, a reasoning-gym generator) costs far more than a check, and a 100k-row import checks every row."""
    return TASKS.get(task_name)()


def read_checked_prompt_file(path, default_task: str = "arithmetic", columns=None, split: str | None = None, files=None) -> PromptFileReport:
    """A prompt file, dataset folder or `datasets` object read row by row (`dataset_source.read_prompt_source`, with the
    optional column mapping and split), each good row's reference then checked by its task's verifier
    (`check_reference`): a row whose answer no response could match is a bad row too. The CLI import and the studio
    import both read sources this way, so they accept exactly the same inputs. `files` finds the images rows name
    (`prompt_images.ImageFiles`; default: relative to the file's folder)."""
    report = read_prompt_source(path, default_task, columns, split, files)
    errors, good = list(report.errors), []
    for p in report.problems:
        why = check_reference(p.task, p.reference)
        if why:
            errors.append((p.id, why))
        else:
            good.append(p)
    return PromptFileReport(good, errors)


def load_checked_prompt_file(path, default_task: str = "arithmetic", columns=None, split: str | None = None) -> list[Problem]:
    """All problems of a prompt file, dataset folder or `datasets` object whose every row is well formed and checked;
    else a K15Error naming every bad row (nothing half-imports)."""
    return problems_or_error(path, read_checked_prompt_file(path, default_task, columns, split), what=describe(path))


def store_prompt_images(problems: list[Problem], store) -> int:
    """Store the images of checked problems in the workspace's image store (`prompt_images.store_images`); a file
    changed since it was checked is a K15Error, raised before any prompt is added."""
    from k15core.tasks.prompt_images import store_images

    try:
        return store_images(problems, store)
    except ValueError as err:
        raise K15Error(str(err), "check the image files and import again") from None


def problems_from_dataset(dataset, columns=None, split: str | None = None, default_task: str = "arithmetic") -> list[Problem]:
    """Problems from a `datasets.Dataset` or `DatasetDict` (or a local dataset folder), checked as `k15 prompts import`
    checks a file; `columns` maps fields to columns, e.g. {"prompt": "question", "reference": "answer"}.

        ds = datasets.load_dataset("HuggingFaceH4/MATH-500", split="test")  # your download, not ours
        problems = problems_from_dataset(ds, columns="prompt=problem,reference=answer,id=unique_id", default_task="math")
    """
    return load_checked_prompt_file(dataset, default_task, columns, split)
