"""A vLLM rollout engine for GPUs, colocated with training in each process: report §2.6.3's hybrid deployment.

Each iteration: wake → generate → sleep (weights offloaded to CPU, KV cache freed, so training gets the GPU
memory back) → train → `load_weights` pushes the new weights in. It implements the same protocol as
`HFEngine` (`continue_ids`, `load_weights`; see `k15core.rollout.engine`) and returns the same things:
token ids (EOS included), the log-prob of each sampled token, the EOS and repeat flags.

vLLM is imported here only, and only when the engine is built (`rl.engine: vllm`): a CPU install never
touches it. The tested set of versions is the `gpu` extra of pyproject.toml (see the README, "Going big").

Choices (spec §13 leaves the engine to us):
- One engine per training process, tensor parallel 1. Under torchrun vLLM joins the launcher's processes
  (`distributed_executor_backend="external_launcher"`) instead of starting its own; in one process its
  engine core runs in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0), so `apply_model` needs no pickling.
- Token ids in, token ids out (`skip_tokenizer_init`): never re-tokenised, as the HF engine; EOS is given
  as a stop token id.
- Log-probs: `logprobs=0` returns the sampled token's log-prob of the raw model output (vLLM's default
  `logprobs_mode`, before temperature and top-p): the quantity the HF engine reports (temperature 1).
  vLLM does not return entropies; those tokens get none (the studio shows them uncoloured).
- Repeat detection: vLLM cannot run our rule as a stopping criterion, so a response is cut after the
  fact at the first token where `detect_repeat` fires. The kept tokens and the flag are what the HF
  engine's criterion gives; the tokens generated past that point are wasted work.
- Weights: `full_state_dict` of the trained model (DDP, FSDP2) with any LoRA adapter merged
  (`lora.merged_lora_weights`), loaded with vLLM's own `load_weights` (it maps Hugging Face names).
- Sampling seed: each request carries its own (`request_seed`: the run's seed, the rank, the call and the
  request's index), so ranks and iterations draw different samples and a run repeats exactly; building the
  engine must not reseed the trainer's global random state, so that state is saved and restored around it.
- `generation_config="vllm"`: vLLM's own sampling defaults, not the model folder's generation_config.json, so
  it stops on exactly the EOS id the HF engine stops on (a folder may list more).
- GPU memory: `torch.cuda.empty_cache()` before each wake and after each weight push, so the memory training
  freed is really free when vLLM asks for its KV cache (and the other way round).
- Image prompts (a vision-language policy): each request is `vllm_inputs.vllm_prompt`'s, one `<image>` marker per
  picture and the picture read from the workspace's image store by the address its trajectory carries; vLLM's own
  processor turns it into pixels and image tokens. The pixel values the HF path uses are not sent (vLLM's
  multimodal data is raw pictures). vLLM cannot init a multimodal model without its tokenizer
  (`skip_tokenizer_init` is refused for them), so a VLM's engine loads the folder's tokenizer; token ids still go
  in and out as they are (`detokenize=False`).
- `max_model_len` and `max_num_batched_tokens` come from the config (`rl.vllm_max_model_len`,
  `rl.vllm_max_batched_tokens`; 0 leaves vLLM's default, the model's full context).
"""
from __future__ import annotations

import os
from pathlib import Path

from k15core import dist
from k15core.errors import K15Error
from k15core.rollout.repeat import RepeatRule, detect_repeat
from k15core.rollout.vllm_inputs import vllm_prompt
from k15core.types import Continuation

INSTALL_HINT = "install the GPU extra on a CUDA machine: pip install -e '.[gpu]' (see README, Going big)"


def vllm_available() -> bool:
    """True when vLLM can be imported and a CUDA GPU is present."""
    import importlib.util

    import torch

    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def base_model_path(model_path: str | Path) -> Path:
    """The full model vLLM can load: the folder itself, or a peft adapter folder's base model."""
    import json

    path = Path(model_path)
    adapter = path / "adapter_config.json"
    return Path(json.loads(adapter.read_text())["base_model_name_or_path"]) if adapter.exists() else path


def request_seed(seed: int, rank: int, call: int, index: int) -> int:
    """The sampling seed of one request: distinct for every (seed, rank, call, index), in [0, 2**31).

    >>> request_seed(0, 0, 0, 0) != request_seed(0, 1, 0, 0) != request_seed(0, 0, 1, 0)
    True
    """
    import hashlib

    digest = hashlib.blake2b(f"{seed}/{rank}/{call}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**31


def cut_at_repeat(response: list[int], new: list[int], rule: RepeatRule) -> tuple[list[int], bool]:
    """`new` tokens continuing `response`, cut just after the first token at which the response so far ends
    in a loop (the HF engine's stopping criterion checks after each token); and whether it was cut."""
    for n in range(1, len(new) + 1):
        if detect_repeat(response + new[:n], rule):
            return new[:n], True
    return new, False


class VLLMEngine:
    """Rollouts with vLLM on this process's GPU; see the module docstring."""

    def __init__(self, model_path: str | Path, eos_token_id: int, temperature: float = 1.0, top_p: float = 1.0,
                 repeat_rule: RepeatRule | None = None, seed: int = 0, gpu_memory_utilization: float = 0.3,
                 dtype: str = "bfloat16", max_model_len: int = 0, max_num_batched_tokens: int = 0, enforce_eager: bool = False,
                 images=None, image_token_id: int | None = None, tokens_per_image: int | None = None):
        """`images` (the workspace's image store), `image_token_id` and `tokens_per_image` (its config's
        `image_token_id`, `image_seq_length`): set for a vision-language policy, whose prompts carry pictures."""
        if not vllm_available():
            raise K15Error("rl.engine is 'vllm' but vLLM or a CUDA GPU is missing", INSTALL_HINT)
        if not dist.active():
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process engine core (see above): a user's "1" breaks apply_model
        import torch
        from vllm import LLM

        self.eos, self.temperature, self.top_p, self.repeat_rule = eos_token_id, temperature, top_p, repeat_rule
        self.seed, self.calls = seed, 0
        self.images, self.image_token_id, self.tokens_per_image = images, image_token_id, tokens_per_image
        cpu_rng, cuda_rng = torch.get_rng_state(), torch.cuda.get_rng_state_all()
        try:
            self.llm = LLM(
                model=str(model_path), skip_tokenizer_init=image_token_id is None, dtype=dtype, seed=dist.rank_seed(seed),
                gpu_memory_utilization=gpu_memory_utilization, enable_sleep_mode=True, generation_config="vllm",
                max_model_len=max_model_len or None, max_num_batched_tokens=max_num_batched_tokens or None, enforce_eager=enforce_eager,
                distributed_executor_backend="external_launcher" if dist.active() else None, tensor_parallel_size=1,
            )
        finally:  # vLLM seeds the global generators as it starts: the trainer's own draws must not change
            torch.set_rng_state(cpu_rng)
            torch.cuda.set_rng_state_all(cuda_rng)
        self.sleeping: set[str] = set()  # what vLLM has put to sleep: "weights", "kv_cache"

    def requests(self, contexts: list[list[int]], images: list | None, todo: list[int]) -> list[dict]:
        """The token prompts of the contexts `todo` names (`vllm_inputs.vllm_prompt`: with their pictures, `images[i]`
        the addresses context i's prompt carries)."""
        return [vllm_prompt(contexts[i], images[i] if images else (), self.images, self.image_token_id, self.tokens_per_image) for i in todo]

    def continue_ids(self, contexts: list[list[int]], max_new_tokens: list[int], response_starts: list[int],
                     pixel_values: list | None = None, images: list | None = None) -> list[Continuation]:
        """`images[i]`: the picture addresses of context i's prompt (image prompts; `pixel_values`, the HF path's
        pixels of the same pictures, are then not needed: vLLM reads the pictures itself)."""
        if pixel_values is not None and images is None:
            raise K15Error("the vLLM engine got image prompts without their pictures' addresses", "pass images= (rollout_step does)")
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        todo = [i for i, n in enumerate(max_new_tokens) if n > 0]
        prompts = [TokensPrompt(**r) for r in self.requests(contexts, images, todo)]  # pictures read before the GPU is woken
        self._wake()
        params = [SamplingParams(max_tokens=max_new_tokens[i], temperature=self.temperature, top_p=self.top_p, logprobs=0,
                                 stop_token_ids=[self.eos], detokenize=False, seed=request_seed(self.seed, dist.rank(), self.calls, i))
                  for i in todo]
        self.calls += 1
        results = self.llm.generate(prompts, params, use_tqdm=False) if todo else []
        self.llm.sleep(level=1)  # hand the GPU memory to training
        self.sleeping = {"weights", "kv_cache"}
        out = [Continuation([], [], False, False) for _ in contexts]
        for i, result in zip(todo, results):
            sample = result.outputs[0]
            ids = list(sample.token_ids)
            logprobs = [step[token].logprob for token, step in zip(ids, sample.logprobs)]
            repeated = False
            if self.repeat_rule is not None and self.eos not in ids:
                ids, repeated = cut_at_repeat(contexts[i][response_starts[i]:], ids, self.repeat_rule)
                logprobs = logprobs[: len(ids)]
            out[i] = Continuation(ids, logprobs, self.eos in ids, repeated)
        return out

    def load_weights(self, model) -> None:
        """Push the trained model's current weights (full, LoRA merged) into vLLM."""
        from k15core.lora import lora_scaling, merged_lora_weights

        weights = dist.full_state_dict(model)
        inner = dist.unwrap(model)
        if hasattr(inner, "peft_config"):
            weights = merged_lora_weights(weights, lora_scaling(inner))
        if "weights" in self.sleeping:
            self.llm.wake_up(tags=["weights"])  # the KV cache stays freed until the next generate
            self.sleeping.discard("weights")
        items = list(weights.items())
        self.llm.apply_model(lambda vllm_model: vllm_model.load_weights(iter(items)))
        del items, weights
        _free_cached_gpu_memory()

    def _wake(self) -> None:
        if self.sleeping:
            _free_cached_gpu_memory()  # what training freed goes back to the device before vLLM takes its KV cache
            self.llm.wake_up(tags=sorted(self.sleeping))
            self.sleeping = set()


def _free_cached_gpu_memory() -> None:
    import torch

    torch.cuda.empty_cache()
