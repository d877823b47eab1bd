"""The judge's config section (`judge:` in YAML; `k15 config` lists it with the others).

It lives beside the judge rather than in k15core/config.py, which composes it into `Config`, to keep that module
readable in one sitting; which verifier rewards RL is `rl.verifier`, in RLConfig.
"""
from __future__ import annotations

from dataclasses import dataclass

from k15core import configfile


@dataclass
class JudgeConfig:
    """The chain-of-thought reward model (report §2.3.5): a causal LM asked whether a response's final answer matches
    the reference; it reasons step by step, then gives a JSON verdict on its last line (k15core.judge)."""

    model: str = ""
    """Judge model: a local Hugging Face folder or a workspace model name (e.g. smollm2). Needed when rl.verifier uses the judge."""
    max_new_tokens: int = 256
    """Longest judgement (reasoning and verdict line), in tokens; one cut here has no verdict and scores 0."""
    temperature: float = 0.0
    """0: greedy (the same response always gets the same verdict); above 0: sampled at this temperature."""
    batch_size: int = 16
    """Judgements generated together."""
    max_response_chars: int = 4000
    """A longer response is shown to the judge as its first and last halves, this many characters in all, the cut marked."""

    def __post_init__(self):
        configfile.check_ranges("judge", self, max_new_tokens=(1, None), temperature=(0, None), batch_size=(1, None),
                                max_response_chars=(100, None))
