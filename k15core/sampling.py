"""Which prompts an RL iteration trains on: uniform, curriculum and prioritised sampling (report §2.3.4).

Choices the report leaves open (spec §13), made here:
- The success rate s_i of a prompt is an exponential moving average of its per-iteration mean
  correctness, `s <- (1 - rate) * s + rate * observed` (rate 0.5 by default: recent iterations
  count most, as the policy changes). Unseen prompts start at `prior` (0.5 by default; a curation
  pass rate can seed it per prompt).
- Prioritised sampling draws prompt i with probability ∝ max(1 − s_i, floor). The floor is 0 by
  default (the paper's rule: solved prompts are never drawn); if every weight is 0 it falls back
  to uniform rather than dividing by zero.
- Curriculum: phases, each a set of allowed difficulty levels from a start iteration on; the
  latest phase that has started applies. Combined with prioritised sampling by drawing with
  priorities *within* the current phase's prompts (the report applies it "on top of" curriculum).
- Draws are with replacement: a prompt drawn twice gets two groups of k samples, each with its own
  baseline. This keeps the probabilities exactly the stated ones.
- Excluded prompts (the studio's labels) are never drawn, in every sampler.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from k15core.errors import K15Error
from k15core.registry import Registry
from k15core.tasks.problem import Problem


@dataclass
class SuccessTracker:
    """Running success rate per prompt id (EMA of each iteration's mean correctness)."""

    rate: float = 0.5
    prior: float = 0.5
    values: dict[str, float] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def get(self, prompt_id: str) -> float:
        return self.values.get(prompt_id, self.prior)

    def update(self, prompt_id: str, mean_correct: float) -> None:
        old = self.get(prompt_id)
        self.values[prompt_id] = (1 - self.rate) * old + self.rate * float(mean_correct)
        self.seen[prompt_id] = self.seen.get(prompt_id, 0) + 1

    def state_dict(self) -> dict:
        return {"rate": self.rate, "prior": self.prior, "values": dict(self.values), "seen": dict(self.seen)}

    def load_state_dict(self, state: dict) -> None:
        self.rate, self.prior = state["rate"], state["prior"]
        self.values, self.seen = dict(state["values"]), dict(state["seen"])


@dataclass
class CurriculumPhase:
    start_iteration: int
    levels: list[int]
    """Difficulty levels drawn from this phase on (empty: all levels)."""


def prioritised_weights(success: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """(n,) success rates -> (n,) probabilities ∝ max(1 − s, floor); uniform if all weights are 0."""
    w = np.maximum(1.0 - np.asarray(success, dtype=np.float64), floor)
    w = np.clip(w, 0.0, None)
    total = w.sum()
    return w / total if total > 0 else np.full(len(w), 1.0 / len(w))


def curriculum_levels(phases: list[CurriculumPhase], iteration: int) -> list[int]:
    """The allowed levels at `iteration` (empty list: all)."""
    current: list[int] = []
    for phase in sorted(phases, key=lambda p: p.start_iteration):
        if iteration >= phase.start_iteration:
            current = list(phase.levels)
    return current


def easy_then_hard(iterations: int, easy: list[int] = (1, 2, 3), hard: list[int] = (4, 5)) -> list[dict]:
    """A two-phase curriculum (the value of `rl.curriculum`): the easy levels for the first third of
    the run, then the hard levels only. The ablation benchmark and the notebooks use it. (choice)"""
    return [{"start_iteration": 0, "levels": list(easy)}, {"start_iteration": max(1, iterations // 3), "levels": list(hard)}]


def uniform_weights(success: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """(n,) success rates -> (n,) equal probabilities (the rates are not looked at)."""
    return np.full(len(success), 1.0 / len(success))


@dataclass(frozen=True)
class SamplingRule:
    """One sampler: whether it keeps to the curriculum's phases, and its draw probabilities."""

    follows_curriculum: bool
    probabilities: object
    """(success rates (n,), floor) -> probabilities (n,)."""


SAMPLERS: Registry[SamplingRule] = Registry("sampler")
SAMPLERS.register("uniform")(SamplingRule(False, uniform_weights))
SAMPLERS.register("curriculum")(SamplingRule(True, uniform_weights))
SAMPLERS.register("prioritised")(SamplingRule(True, prioritised_weights))


class PromptSampler:
    """Draws the prompts of each iteration from a pool, by one of the `SAMPLERS` (prioritised draws within
    the current curriculum phase when phases are given). Its state (success rates, RNG) is saved in checkpoints."""

    def __init__(
        self,
        pool: list[Problem],
        strategy: str = "prioritised",
        phases: list[CurriculumPhase] | None = None,
        floor: float = 0.0,
        tracker: SuccessTracker | None = None,
        seed: int = 0,
    ):
        self.rule = SAMPLERS.get(strategy)
        if not pool:
            raise K15Error("the RL prompt pool is empty", "give the task more training problems (rl.pool_size) or import prompts")
        self.pool = list(pool)
        self.strategy = strategy
        self.phases = list(phases or [])
        self.floor = floor
        self.tracker = tracker or SuccessTracker()
        self.rng = np.random.default_rng(seed)
        self.excluded: set[str] = set()

    def candidates(self, iteration: int) -> list[Problem]:
        """The prompts that may be drawn at `iteration`: not excluded, and in the curriculum phase."""
        levels = curriculum_levels(self.phases, iteration) if self.rule.follows_curriculum else []
        out = [p for p in self.pool if p.id not in self.excluded and (not levels or p.difficulty in levels)]
        if not out:
            raise K15Error(
                f"no prompt can be drawn at iteration {iteration} (all excluded or outside the curriculum levels {levels})",
                "un-exclude some prompts in the studio, or change rl.curriculum",
            )
        return out

    def probabilities(self, candidates: list[Problem]) -> np.ndarray:
        return self.rule.probabilities(np.array([self.tracker.get(p.id) for p in candidates]), self.floor)

    def draw(self, n: int, iteration: int) -> list[Problem]:
        candidates = self.candidates(iteration)
        idx = self.rng.choice(len(candidates), size=n, replace=True, p=self.probabilities(candidates))
        return [candidates[i] for i in idx]

    def update(self, prompt_id: str, mean_correct: float) -> None:
        self.tracker.update(prompt_id, mean_correct)

    def state_dict(self) -> dict:
        return {"tracker": self.tracker.state_dict(), "rng": self.rng.bit_generator.state, "excluded": sorted(self.excluded)}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.load_state_dict(state["tracker"])
        self.rng.bit_generator.state = state["rng"]
        self.excluded = set(state["excluded"])
