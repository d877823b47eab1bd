"""The doctor: checks, before and during an RL run, for the ways a run cannot learn, each alarm one line naming
the cause and the fix.

Each check is a small pure function over `Evidence` (the run's per-iteration metrics so far, oldest first, and
what the tokenizer says about chat templates) that returns what it measured when the alarm fires, else None;
they live in one registry, `CHECKS`. `Doctor` is the side of it that acts: after each iteration it measures
held-out accuracy when due, runs every check, stores each firing alarm as the metric `doctor/<check>` (its
value; iteration -1 for the check before the run), prints the newly firing ones, and stops the run on a fatal
one (`DoctorStop`, a K15Error: `train` checkpoints first, so the run resumes) unless `rl.doctor_go_on`.

Fatal or warning. Fatal: conditions under which the loss has nothing to learn from, or the run is set up wrong,
so every further iteration is spent for nothing: no signal (every group's rewards equal: zero advantages), the
response limit cutting nearly every response, no EOS ever, a chat model without its template, answers the
verifier cannot read. Each but the template check must last `rl.doctor_patience` iterations in a row: a
fresh run may need a few iterations to find its first reward. Warnings: KL and entropy out of their range, and
reward rising while held-out accuracy falls, are signs that need a person's reading (entropy falls in healthy
runs too, held-out accuracy is measured on few problems), so the run goes on.

KL collapsing is not a check: rl/kl is measured against the iteration's start policy (the report's π_θi),
which is reset every iteration and which the loss's τ term pulls toward; with one mini-batch it is 0 by
construction. A near-zero KL is the normal state, not a symptom.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Callable

from k15core import dist
from k15core.config import RLConfig
from k15core.errors import K15Error
from k15core.registry import Registry

FATAL, WARNING = "fatal", "warning"
BEFORE_RUN = -1
"""The iteration a check made before the run's first iteration is recorded at."""

CHAT_MARKERS = ("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|eot_id|>", "<start_of_turn>", "<end_of_turn>",
                "<|user|>", "<|assistant|>", "[INST]")
"""Special tokens that exist only to mark chat turns (ChatML, Llama 3, Gemma, Zephyr, Mistral). A vocabulary with
one of them belongs to a model trained on chat turns; the tiny model and base models have none."""


@dataclass(frozen=True)
class Evidence:
    """What the checks read."""

    history: list[dict[str, float]]
    """Per-iteration metrics (k15core.metrics), oldest first; rl/heldout_accuracy where it was measured."""
    chat_markers: tuple[str, ...] = ()
    """The CHAT_MARKERS in the tokenizer's vocabulary."""
    chat_template: bool = False
    """Whether the tokenizer has a chat template (k15core.prompting.uses_chat_template)."""


@dataclass(frozen=True)
class Check:
    name: str
    severity: str
    finds: Callable[[Evidence, RLConfig], float | None]
    cause: str
    """What is wrong; formatted with `v` (the measured value) and the run's rl.* config keys."""
    fix: str
    before_run: bool = False
    """Checked once, before the first iteration (else after every iteration)."""


@dataclass(frozen=True)
class Alarm:
    """One firing of a check."""

    check: str
    iteration: int
    """The iteration after which it fired (BEFORE_RUN: before the first)."""
    severity: str
    value: float
    cause: str
    fix: str

    @property
    def message(self) -> str:
        return f"{self.cause}; fix: {self.fix}"


CHECKS: Registry[Check] = Registry("doctor check")


def check(name: str, severity: str, cause: str, fix: str, before_run: bool = False):
    """Register the decorated function as the check `name`."""
    def add(fn: Callable[[Evidence, RLConfig], float | None]):
        CHECKS.register(name)(Check(name, severity, fn, cause, fix, before_run))
        return fn
    return add


def last_values(history: list[dict[str, float]], key: str, n: int) -> list[float] | None:
    """`key`'s values in the last `n` iterations that have it (an iteration in which no group finished has none),
    or None while fewer than `n` have it."""
    values = [h[key] for h in history if key in h]
    return values[-n:] if len(values) >= n else None


@check("no_signal", FATAL, "every group's k samples got the same reward in each of the last {doctor_patience} iterations: "
       "the loss has no learning signal", "make some prompts winnable (easier task.levels, or warm up with k15 sft) or sample more per prompt (rl.k)")
def no_signal(ev: Evidence, cfg: RLConfig) -> float | None:
    same = last_values(ev.history, "rl/same_reward_groups", cfg.doctor_patience)
    return float(cfg.doctor_patience) if same and min(same) >= 1.0 else None


@check("truncated", FATAL, "{v:.0%} of responses were cut at rl.max_response_tokens={max_response_tokens} (at least "
       "{doctor_max_truncated:.0%} in each of the last {doctor_patience} iterations): the limit is too short",
       "raise rl.max_response_tokens (or rl.length_penalty to reward shorter answers)")
def truncated(ev: Evidence, cfg: RLConfig) -> float | None:
    return sustained(ev, "rl/truncated", cfg.doctor_patience, cfg.doctor_max_truncated)


@check("no_eos", FATAL, "no response has ended with EOS in {v:.0f} iterations: the model never stops by itself",
       "warm the model up first (k15 sft) so it ends its answers, and check that the tokenizer's eos_token is the one the model was trained with")
def no_eos(ev: Evidence, cfg: RLConfig) -> float | None:
    finished = [h["rl/finished"] for h in ev.history if "rl/finished" in h]
    return float(len(finished)) if len(finished) >= cfg.doctor_patience and max(finished) == 0 else None


@check("chat_template", FATAL, "the tokenizer has chat tokens (such as <|im_start|>) but no chat template: a chat model "
       "would be prompted as plain text", "load the model's own tokenizer files (tokenizer_config.json with its chat_template); a base model "
       "that only shares a chat model's vocabulary may train on (rl.doctor_go_on=true)", before_run=True)
def chat_template(ev: Evidence, cfg: RLConfig) -> float | None:
    """The rule: a vocabulary with chat-turn tokens means a model trained on chat turns. It can be wrong for a base
    model whose tokenizer was made for its chat sibling (some ship the ChatML tokens, unused, without a
    template), which is why the fix names the way to train on."""
    return 1.0 if ev.chat_markers and not ev.chat_template else None


@check("format", FATAL, "the verifier finds no answer in {v:.0%} of the responses that ended (at least {doctor_max_unparsed:.0%} "
       "in each of the last {doctor_patience} iterations): answers are not in the task's format",
       "teach the format before RL (k15 sft), or check the task's instruction and its extract_answer against a few responses (Rollouts tab)")
def format_failures(ev: Evidence, cfg: RLConfig) -> float | None:
    return sustained(ev, "rl/unparsed", cfg.doctor_patience, cfg.doctor_max_unparsed)


def sustained(ev: Evidence, metric: str, iterations: int, threshold: float) -> float | None:
    """The metric's latest value when it was at least `threshold` in each of the last `iterations` iterations, else None."""
    values = last_values(ev.history, metric, iterations)
    return values[-1] if values and min(values) >= threshold else None


@check("kl_exploding", WARNING, "KL to the iteration's start policy reached {v:.3g} nats per token (above rl.doctor_max_kl={doctor_max_kl:g}): "
       "the policy jumps within one iteration", "lower rl.lr, or raise rl.tau (the k15 loss) / lower rl.clip_eps (grpo)")
def kl_exploding(ev: Evidence, cfg: RLConfig) -> float | None:
    kl = last_values(ev.history, "rl/kl", 1)
    return kl[-1] if kl and kl[-1] > cfg.doctor_max_kl else None


def _entropy_ratio(ev: Evidence) -> tuple[float, float] | None:
    """(latest entropy, latest / first) once there are two values; the first iteration is the run's reference."""
    entropy = [h["rl/entropy"] for h in ev.history if "rl/entropy" in h]
    if len(entropy) < 2 or entropy[0] <= 0:
        return None
    return entropy[-1], entropy[-1] / entropy[0]


@check("entropy_collapsing", WARNING, "entropy fell to {v:.3g} nats, under 1/{doctor_entropy_factor:g} of its first value: "
       "the policy stops exploring", "lower rl.lr, raise rl.temperature, or raise rl.tau")
def entropy_collapsing(ev: Evidence, cfg: RLConfig) -> float | None:
    got = _entropy_ratio(ev)
    return got[0] if got and got[1] < 1 / cfg.doctor_entropy_factor else None


@check("entropy_exploding", WARNING, "entropy rose to {v:.3g} nats, over {doctor_entropy_factor:g} times its first value: "
       "the policy is dissolving into noise", "lower rl.lr or raise rl.tau; check the rewards of the latest samples (Rollouts tab)")
def entropy_exploding(ev: Evidence, cfg: RLConfig) -> float | None:
    got = _entropy_ratio(ev)
    return got[0] if got and got[1] > cfg.doctor_entropy_factor else None


@check("hacking", WARNING, "between the last two held-out measurements the reward rose while held-out accuracy fell by {v:.2f}: "
       "the policy may be exploiting the verifier", "read the newest high-reward samples (Rollouts tab); label hackable prompts or tighten the verifier")
def hacking(ev: Evidence, cfg: RLConfig) -> float | None:
    """The mean reward of the iterations up to each of the last two measurements (since the one before it)."""
    marks = [i for i, h in enumerate(ev.history) if "rl/heldout_accuracy" in h]
    if len(marks) < 2:
        return None
    a, b = marks[-2], marks[-1]
    start = marks[-3] + 1 if len(marks) > 2 else 0

    def mean_reward(rows: list[dict[str, float]]) -> float | None:
        rewards = [h["rl/reward"] for h in rows if "rl/reward" in h]
        return sum(rewards) / len(rewards) if rewards else None

    before, after = mean_reward(ev.history[start:a + 1]), mean_reward(ev.history[a + 1:b + 1])
    drop = ev.history[a]["rl/heldout_accuracy"] - ev.history[b]["rl/heldout_accuracy"]
    if before is None or after is None:
        return None
    return drop if drop >= cfg.doctor_hacking_margin and after - before >= cfg.doctor_hacking_margin else None


def examine(ev: Evidence, cfg: RLConfig, iteration: int, before_run: bool = False) -> list[Alarm]:
    """Every registered check of the kind asked for (before the run, or after an iteration) that fires, fatal first."""
    rl = asdict(cfg)
    alarms = []
    for name in CHECKS.names():
        c = CHECKS.get(name)
        if c.before_run == before_run and (value := c.finds(ev, cfg)) is not None:
            alarms.append(alarm(c, iteration, value, rl))
    return sorted(alarms, key=lambda a: a.severity != FATAL)


def alarm(c: Check, iteration: int, value: float, rl: dict) -> Alarm:
    return Alarm(c.name, iteration, c.severity, value, c.cause.format(v=value, **rl), c.fix.format(v=value, **rl))


def alarms_from_metrics(rows: list[dict], rl: dict) -> list[Alarm]:
    """The alarms stored as `doctor/<check>` metric rows (iteration, name, value), with the run's rl config (as
    stored; a key it lacks, or holds a value of another type than the default's, takes today's default, so a
    message always formats); names no registered check has are skipped."""
    defaults = asdict(RLConfig())
    rl = {k: rl[k] if _same_kind(rl.get(k), v) else v for k, v in defaults.items()}
    return [alarm(CHECKS.get(r["name"][7:]), r["iteration"], r["value"], rl)
            for r in rows if r["name"].startswith("doctor/") and r["name"][7:] in CHECKS.names()]


def _same_kind(value, default) -> bool:
    """Whether a stored config value may stand in for `default` in a message (an int where a float is due may)."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return type(value) is type(default)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def chat_evidence(tokenizer) -> tuple[tuple[str, ...], bool]:
    """(CHAT_MARKERS in the tokenizer's vocabulary, whether it has a chat template)."""
    from k15core.prompting import uses_chat_template

    vocab = tokenizer.get_vocab()
    return tuple(m for m in CHAT_MARKERS if m in vocab), uses_chat_template(tokenizer)


class DoctorStop(K15Error):
    """A fatal alarm stopped the run (after `train` checkpointed it)."""

    def __init__(self, a: Alarm):
        super().__init__(f"the doctor stopped the run after iteration {a.iteration}: {a.cause}" if a.iteration >= 0 else
                         f"the doctor stopped the run before its first iteration: {a.cause}",
                         f"{a.fix}; then start a new run, or k15 train --resume --set rl.doctor_go_on=true to train on regardless")
        self.alarm = a


class Doctor:
    """The doctor of one run: its history (read from the store, so a resumed run continues its counts), and the
    acting side: measure, check, record, print, stop."""

    def __init__(self, run):
        self.run = run
        self.history: list[dict[str, float]] = dist.on_main(read_history, run.store, run.state.run_id)
        self.firing: set[str] = set()  # empty at the start, so a resumed run says again what is still wrong

    def before_run(self) -> None:
        ev = Evidence([], *chat_evidence(self.run.tokenizer))
        self._act(examine(ev, self.run.cfg, BEFORE_RUN, before_run=True), BEFORE_RUN, {})

    def after_iteration(self, metrics: dict[str, float]) -> None:
        """After iteration `run.state.iteration - 1`, whose `metrics` every rank has."""
        it, cfg, measured = self.run.state.iteration - 1, self.run.cfg, {}
        if cfg.doctor_eval_every and (it + 1) % cfg.doctor_eval_every == 0 and not dist.active() and cfg.engine == "hf":
            measured = heldout_accuracy(self.run)
        self.history.append({**metrics, **measured})
        self._act(examine(Evidence(self.history), cfg, it), it, measured)

    def _act(self, alarms: list[Alarm], iteration: int, measured: dict[str, float]) -> None:
        found = {f"doctor/{a.check}": a.value for a in alarms}
        if self.history and iteration >= 0:
            self.history[-1].update(found)
        if found or measured:
            dist.on_main(lambda: self.run.store.log_metrics(self.run.state.run_id, iteration, {**measured, **found}))
        for a in alarms:
            if a.check not in self.firing:  # said once when it starts firing; the store has every iteration
                dist.print0(f"doctor [{a.severity}] {a.message}", file=sys.stderr)
        self.firing = {a.check for a in alarms}
        fatal = [a for a in alarms if a.severity == FATAL]
        if fatal and not self.run.cfg.doctor_go_on:
            raise DoctorStop(fatal[0])


def read_history(store, run_id: int) -> list[dict[str, float]]:
    """The run's stored metrics as one dict per iteration, oldest first (iteration -1, before the run, left out)."""
    by_iteration: dict[int, dict[str, float]] = defaultdict(dict)
    for r in store.metrics(run_id, since_iteration=BEFORE_RUN):
        by_iteration[r["iteration"]][r["name"]] = r["value"]
    return [by_iteration[i] for i in sorted(by_iteration)]


def heldout_accuracy(run) -> dict[str, float]:
    """Greedy accuracy of the policy on `rl.doctor_eval_problems` held-out problems spread over the levels, each
    response limited to rl.max_response_tokens. Greedy decoding draws no random numbers, so the training that
    follows samples what it would have without this measurement. Image prompts go through the run's encoder (a VLM's
    processor and the workspace's pictures), as its rollouts do. {} when the task has no held-out problems."""
    from k15core.prompting import render_prompt
    from k15core.rollout.hf import generate

    problems = run.task.eval_problems()
    n = run.cfg.doctor_eval_problems
    problems = problems[:: max(1, len(problems) // n)][:n]
    if not problems:
        return {}
    prompts = [render_prompt(run.tokenizer, p.prompt, run.task.instruction) for p in problems]
    encoded = [run.encode(p) for p in problems] if run.encode is not None else None
    gens = generate(dist.unwrap(run.model), run.tokenizer, prompts, greedy=True, max_new_tokens=run.cfg.max_response_tokens, encoded=encoded)
    return {"rl/heldout_accuracy": sum(run.task.verify(g.text, problems[g.prompt_index].reference) for g in gens) / len(problems)}
