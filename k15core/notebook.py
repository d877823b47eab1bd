"""What the notebooks in notebooks/ share: the quick mode CI runs them in, their config and workspace,
and the live plot a training run updates.

Quick mode (`K15_QUICK=1`) runs every notebook's code paths with small budgets: it is how CI executes
them, and how a reader checks a notebook in seconds before spending minutes on it.
"""
from __future__ import annotations

import os
from typing import TypeVar

from k15core.config import DEMO_CONFIG, Config, load_config
from k15core.store import Store
from k15core.workspace import Workspace

QUICK_ENV = "K15_QUICK"

QUICK_OVERRIDES = [
    "sft.examples=384", "task.eval_per_level=2", "eval.samples=1", "eval.max_new_tokens=64",
    "rl.iterations=2", "rl.prompts_per_iter=4", "rl.k=4", "rl.max_response_tokens=64",
]
"""Budgets quick mode puts on top of the demo preset (a notebook's own overrides still win)."""

T = TypeVar("T")


def quick() -> bool:
    """True when the notebooks run in quick mode (`K15_QUICK` set to anything but 0)."""
    return os.environ.get(QUICK_ENV, "0") not in ("", "0")


def budget(full: T, quick_value: T) -> T:
    """`full` normally, `quick_value` in quick mode: the same code path with a smaller budget."""
    return quick_value if quick() else full


def config(*overrides: str, layers: list = ()) -> Config:
    """The demo preset (assets/configs/demo.yaml), then preset `layers` (YAML files, e.g. the long2short RL
    preset), then quick mode's budgets, then `overrides` ("key=value"). A notebook that sets a budget
    itself picks its quick value with `budget(full, quick)`."""
    return load_config(DEMO_CONFIG, (QUICK_OVERRIDES if quick() else []) + list(overrides), layers=list(layers))


def workspace() -> tuple[Workspace, Store]:
    """The workspace (`K15_WORKSPACE`, else ./k15-workspace) and its run store; all notebooks share it,
    so a later notebook reuses the warm-up model and the runs of an earlier one."""
    ws = Workspace.resolve()
    return ws, ws.store()


class LivePlot:
    """A live figure of reward, accuracy and response length; pass it as `on_iteration` to a training run."""

    def __init__(self, title: str = "RL, live"):
        from k15core.viz import live_training_figure

        self.figure = live_training_figure(title)
        self.history: list[dict[str, float]] = []

    def __call__(self, iteration: int, metrics: dict[str, float]) -> None:
        from k15core.viz import add_iteration

        self.history.append({"iteration": iteration, **metrics})
        add_iteration(self.figure, iteration, metrics)
