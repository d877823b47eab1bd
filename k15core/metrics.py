"""Every metric k15 stores, documented in one place: name pattern -> meaning and formula.

The studio reads these descriptions for plot captions. `{style}` is an evaluation style ('free' when
the model chooses how to answer, otherwise the prefilled style), `{d}` a difficulty level.
"""
from __future__ import annotations

METRICS: dict[str, str] = {
    "sft/loss": "Warm-up SFT: mean cross-entropy per response token of the last batch (prompt tokens excluded).",
    "sft/lr": "Warm-up SFT: learning rate at this step.",
    "sft/tokens_per_s": "Warm-up SFT: tokens processed per second since the start (prompt + response, padding excluded).",
    "eval/{style}/accuracy": "Held-out evaluation: share of problems whose final answer verifies (greedy decoding), all levels.",
    "eval/{style}/accuracy/d{d}": "Held-out evaluation: accuracy on difficulty level d.",
    "eval/{style}/len_mean": "Held-out evaluation: mean response length in tokens (EOS included), all levels.",
    "eval/{style}/len_mean/d{d}": "Held-out evaluation: mean response length in tokens on level d.",
    "eval/{style}/len_p50/d{d}": "Held-out evaluation: median response length in tokens on level d.",
    "eval/{style}/len_p90/d{d}": "Held-out evaluation: 90th percentile of response length in tokens on level d.",
    "eval/{style}/truncated": "Held-out evaluation: share of responses cut by eval.max_new_tokens.",
}


def describe_metric(name: str) -> str:
    """The documentation of a concrete metric name, matching `{placeholders}` against any path segment text."""
    import re

    for pattern, text in METRICS.items():
        regex = "^" + re.sub(r"\\\{[a-z]+\\\}", r"[^/]+", re.escape(pattern)) + "$"
        if re.match(regex, name):
            return text
    return ""
