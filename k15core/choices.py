"""The config keys whose value names a registered variant (a loss, a sampler, a task, ...), each with its registry.

One table for two uses: each config's `__post_init__` checks its keys against it (`check_choices`), and the
studio's Launch form offers each key's registered names as a drop-down. So a newly registered variant is a
choice everywhere at once, and the form can never offer a value the check refuses.

>>> from types import SimpleNamespace
>>> check_choices("rl", SimpleNamespace(loss="grop", verifier="rule", sampler="uniform", engine="hf", strategy="ddp", bf16="auto", logz="mean"))
Traceback (most recent call last):
k15core.errors.K15Error: rl.loss is 'grop', which is not one of: grpo, k15, reinforce, rest
  fix: unknown loss; e.g. --set rl.loss=grpo
"""
from __future__ import annotations

from typing import Any

from k15core.dist import STRATEGIES
from k15core.judge.verifiers import VERIFIERS
from k15core.losses import LOGZ_ESTIMATES, LOSSES
from k15core.precision import BF16_MODES
from k15core.registry import Registry
from k15core.rollout.engine import ENGINES
from k15core.sampling import SAMPLERS
from k15core.tasks import TASKS

CHOICES: dict[str, Registry] = {
    "task.name": TASKS,
    "sft.bf16": BF16_MODES,
    "rl.loss": LOSSES,
    "rl.verifier": VERIFIERS,
    "rl.sampler": SAMPLERS,
    "rl.engine": ENGINES,
    "rl.strategy": STRATEGIES,
    "rl.bf16": BF16_MODES,
    "rl.logz": LOGZ_ESTIMATES,
}


def check_choices(section: str, config: Any) -> None:
    """A K15Error for the first key of `section` in CHOICES (in the table's order) whose value is not a registered name."""
    for key, registry in CHOICES.items():
        group, name = key.split(".", 1)
        if group == section:
            registry.check(key, getattr(config, name))
