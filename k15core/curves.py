"""How a stored metric reads on a plot: a readable name, its unit and the kind of axis it belongs on, and the
smoothing of a noisy curve. Pure (no plotting library): the studio's Runs tab draws with it, a notebook can too.

Shares are stored as fractions (0.25) and shown as percentages (25) on an axis fixed at 0-100 %, so that two
runs, or two moments of one run, read on the same scale; everything else is drawn on a linear axis that fits
its data. The names follow the metric patterns of `k15core.metrics.METRICS` ({d} a difficulty level, {q} a
percentile, {phase} a phase of the iteration):

>>> curve("rl/accuracy/d3")
Curve(name='accuracy, level 3', unit='%', axis='percent')
>>> shown("rl/truncated", 0.25), shown("rl/len_p50", 41.0)
(25.0, 41.0)
>>> curve("rl/some_new_metric")  # not in the registry: its own name, on a linear axis
Curve(name='some_new_metric', unit='', axis='linear')
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PERCENT, LINEAR = "percent", "linear"
"""Axis kinds: a share shown as 0-100 % on a fixed axis; any other quantity on an axis fitted to the data."""

PERCENT_RANGE = (0.0, 100.0)


@dataclass(frozen=True)
class Curve:
    name: str
    """What a legend calls it."""
    unit: str
    """'%' for a share (shown x 100), else the unit of the stored value ('' when it has none)."""
    axis: str
    """PERCENT or LINEAR."""


def _share(name: str) -> Curve:
    return Curve(name, "%", PERCENT)


CURVES: dict[str, Curve] = {
    "rl/reward": Curve("reward", "reward", LINEAR),
    "rl/accuracy": _share("accuracy, all levels"),
    "rl/accuracy/d{d}": _share("accuracy, level {d}"),
    "rl/heldout_accuracy": _share("held-out accuracy (greedy)"),
    "rl/len_mean": Curve("mean length", "tokens", LINEAR),
    "rl/len_mean/d{d}": Curve("mean length, level {d}", "tokens", LINEAR),
    "rl/len_p10": Curve("p10 length (short end)", "tokens", LINEAR),
    "rl/len_p50": Curve("median length", "tokens", LINEAR),
    "rl/len_p90": Curve("p90 length (long end)", "tokens", LINEAR),
    "rl/len_mean_correct": Curve("correct responses", "tokens", LINEAR),
    "rl/len_mean_wrong": Curve("wrong responses", "tokens", LINEAR),
    "rl/truncated": _share("cut at the token limit"),
    "rl/repeated": _share("stopped as a loop"),
    "rl/finished": _share("ended with EOS"),
    "rl/unparsed": _share("ended, answer unreadable"),
    "rl/same_reward_groups": _share("groups with no signal (k equal rewards)"),
    "rl/masked_token_share": _share("tokens kept as context only"),
    "judge/judged_share": _share("decided by the judge"),
    "judge/malformed_share": _share("malformed judge verdicts"),
    "rl/kl": Curve("KL", "nats per token", LINEAR),
    "rl/entropy": Curve("entropy", "nats per token", LINEAR),
    "rl/loss": Curve("policy loss", "", LINEAR),
    "rl/length_reward": Curve("length reward (weighted)", "reward", LINEAR),
    "rl/length_penalty_weight": Curve("length-penalty weight", "", LINEAR),
    "rl/groups": Curve("groups trained", "groups", LINEAR),
    "time/rollout_tokens_per_s": Curve("rollout", "tokens / s", LINEAR),
    "time/train_tokens_per_s": Curve("training", "tokens / s", LINEAR),
    "time/{phase}_s": Curve("{phase}", "s", LINEAR),
    "eval/{style}/accuracy": _share("held-out accuracy, {style}"),
    "eval/{style}/truncated": _share("held-out cut at the limit, {style}"),
}


def _regex(pattern: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{([a-z]+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$")


_PATTERNS = [(_regex(p), c) for p, c in CURVES.items()]


def curve(metric: str) -> Curve:
    """The registry's entry for a concrete metric name, placeholders filled in; a metric it does not know is
    named by what follows its first '/', on a linear axis."""
    for regex, c in _PATTERNS:
        m = regex.match(metric)
        if m:
            return Curve(c.name.format(**m.groupdict()), c.unit, c.axis)
    return Curve(metric.split("/", 1)[-1], "", LINEAR)


def shown(metric: str, value: float) -> float:
    """The value as plotted: a share x 100 (a percentage), anything else as stored."""
    return 100.0 * value if curve(metric).axis == PERCENT else value


SMOOTHING_MAX = 0.95


def ema(values: list[float], weight: float) -> list[float]:
    """Exponential moving average of a curve, oldest value first: s_0 = x_0, s_t = w * s_(t-1) + (1 - w) * x_t.
    `weight` 0 returns the values as they are; the larger, the smoother (at most SMOOTHING_MAX).

    >>> ema([0.0, 1.0, 1.0], 0.5)
    [0.0, 0.5, 0.75]
    """
    if not 0.0 <= weight <= SMOOTHING_MAX:
        raise ValueError(f"smoothing weight {weight} is outside 0..{SMOOTHING_MAX}")
    out: list[float] = []
    for x in values:
        out.append(x if not out else weight * out[-1] + (1.0 - weight) * x)
    return out
