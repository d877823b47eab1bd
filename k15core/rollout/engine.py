"""The rollout engine protocol, and the Hugging Face engine that implements it on any device.

The trainer only ever calls `continue_ids` (generate the next segment of many responses) and
`load_weights` (after an optimiser step, the hybrid deployment of report §2.6.3: generate, train,
push the new weights into the engine). The vLLM engine for GPUs (`k15core.rollout.vllm_engine`)
implements the same two methods; `make_engine` picks one from the `ENGINES` registry by `rl.engine`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from k15core import dist
from k15core.errors import K15Error
from k15core.registry import Registry
from k15core.rollout.compact import compact_continue
from k15core.rollout.hf import continue_ids
from k15core.types import Continuation
from k15core.rollout.repeat import RepeatRule


class RolloutEngine(Protocol):
    def continue_ids(self, contexts: list[list[int]], max_new_tokens: list[int], response_starts: list[int],
                     pixel_values: list | None = None, images: list | None = None) -> list[Continuation]:
        """Continue each token sequence by at most `max_new_tokens[i]` tokens (see `hf.continue_ids`); image
        prompts come with each context's pixel values (`compact.compact_continue`) and its pictures' addresses in
        the workspace's image store (`images`: what the vLLM engine sends, `vllm_inputs`)."""

    def load_weights(self, model) -> None:
        """Make the engine sample from `model`'s current weights."""


class HFEngine:
    """Sampling from a Hugging Face model (CPU or GPU): by default with `compact_continue`, which drops
    finished responses from the batch (k15core/rollout/compact.py; measured in benchmarks/rollout.py), or
    with `generate` itself (`compact=False`, the reference path)."""

    def __init__(self, model, tokenizer, temperature: float = 1.0, top_p: float = 1.0, repeat_rule: RepeatRule | None = None,
                 greedy: bool = False, compact: bool = True):
        self.model, self.tokenizer = model, tokenizer
        self.temperature, self.top_p, self.repeat_rule, self.greedy, self.compact = temperature, top_p, repeat_rule, greedy, compact

    def continue_ids(self, contexts, max_new_tokens, response_starts, pixel_values=None, images=None):
        """`pixel_values`: each context's images (image prompts); only the compact sampler takes them. `images`
        (their addresses) is not needed here: the pixel values are the pictures."""
        if self.compact or pixel_values is not None:
            return compact_continue(
                self.model, contexts, max_new_tokens, eos=self.tokenizer.eos_token_id, pad=self.tokenizer.pad_token_id, greedy=self.greedy,
                temperature=self.temperature, top_p=self.top_p, repeat_rule=self.repeat_rule, response_starts=response_starts,
                pixel_values=pixel_values,
            )
        return continue_ids(
            self.model, self.tokenizer, contexts, max_new_tokens=max_new_tokens, greedy=self.greedy,
            temperature=self.temperature, top_p=self.top_p, repeat_rule=self.repeat_rule, response_starts=response_starts,
        )

    def load_weights(self, model) -> None:
        """Nothing to do when the engine samples from the trained module itself (one process, DDP); a
        separate copy (FSDP2, see `dist.prepare_model`) gets the full new weights."""
        if self.model is not dist.unwrap(model):
            self.model.load_state_dict(dist.full_state_dict(model))


ENGINES: Registry = Registry("rollout engine")
"""name -> factory(cfg, policy, rollout_model, tokenizer, model_path, repeat_rule, images) -> RolloutEngine; `images`: the
workspace's image store for a vision-language policy, else None."""


@ENGINES.register("hf")
def _hf_engine(cfg, policy, rollout_model, tokenizer, model_path, repeat_rule, images=None) -> RolloutEngine:
    """Samples from `rollout_model` (the policy itself, or its plain copy under FSDP2)."""
    return HFEngine(rollout_model, tokenizer, cfg.temperature, cfg.top_p, repeat_rule, compact=cfg.compact_rollouts)


@ENGINES.register("vllm")
def _vllm_engine(cfg, policy, rollout_model, tokenizer, model_path, repeat_rule, images=None) -> RolloutEngine:
    """Loads the model folder `model_path` into vLLM (a LoRA adapter folder: its base model), then `policy`'s
    current weights (a LoRA policy or a resumed checkpoint differs from the folder's). vLLM is imported here
    only, so CPU installs never touch it. A vision-language policy (`images` given) also gets its image token and
    image length from its config, so requests carry pictures (`vllm_inputs`)."""
    from k15core.rollout.vllm_engine import VLLMEngine, base_model_path

    if model_path is None:
        raise K15Error("rl.engine 'vllm' needs the policy's model folder to start from", "pass model_path (k15 train does)")
    engine = VLLMEngine(base_model_path(model_path), tokenizer.eos_token_id, cfg.temperature, cfg.top_p, repeat_rule,
                        seed=cfg.seed, gpu_memory_utilization=cfg.vllm_gpu_memory, max_model_len=cfg.vllm_max_model_len,
                        max_num_batched_tokens=cfg.vllm_max_batched_tokens, enforce_eager=cfg.vllm_enforce_eager, **image_settings(policy, images))
    engine.load_weights(policy)
    return engine


def image_settings(policy, images) -> dict:
    """The vLLM engine's image arguments for `policy` (its config's image token and tokens per image) and the image
    store `images`; {} for a text policy (no store)."""
    if images is None:
        return {}
    config = dist.unwrap(policy).config
    return {"images": images, "image_token_id": config.image_token_id, "tokens_per_image": getattr(config, "image_seq_length", None)}


def make_engine(cfg, policy, rollout_model, tokenizer, model_path: str | Path | None, repeat_rule: RepeatRule, images=None) -> RolloutEngine:
    """The `ENGINES` entry `cfg.engine` names (an RLConfig), built for this policy (`images`: a VLM's image store)."""
    return ENGINES.get(cfg.engine)(cfg, policy, rollout_model, tokenizer, model_path, repeat_rule, images)
