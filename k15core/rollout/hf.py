"""Generation with Hugging Face `generate` (KV cache, sampling or greedy), recording every token.

This is the reference rollout path: it works for any causal LM on CPU or GPU. Each response comes
back with its token ids and the model's log-probability of each token (at temperature 1, i.e. the
log pi(token | context) the k1.5 loss needs), whether it finished with EOS, and whether it was cut
by the token limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Generation:
    prompt_index: int
    """Index into the `prompts` list passed to `generate`."""
    sample_index: int
    """0..k-1: which of the k samples of this prompt."""
    text: str
    """The response text (prefix included, EOS excluded)."""
    token_ids: list[int] = field(repr=False)
    """Response tokens (prefix included, EOS included when the response finished)."""
    logprobs: list[float] = field(repr=False)
    """log pi(token | context) per response token; 0.0 for prefilled prefix tokens (not sampled)."""
    finished: bool
    """True if the model emitted EOS."""
    truncated: bool
    """True if the response hit `max_new_tokens` without EOS."""

    @property
    def length(self) -> int:
        return len(self.token_ids)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[str],
    *,
    k: int = 1,
    max_new_tokens: int = 128,
    greedy: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    prefixes: list[str] | None = None,
    batch_size: int = 64,
    seed: int | None = None,
    progress=None,
) -> list[Generation]:
    """Sample `k` responses for each prompt (or one greedy response); prompts are batched by `batch_size`.

    `prefixes[i]`, if given, is prefilled at the start of prompt i's response (used to force a style);
    it counts as part of the response. `progress` is an optional callable(n_done) for progress bars.
    Log-probs come from `output_logits`, which holds (batch, new tokens, vocab) floats per batch: fine
    for small vocabularies; the RL rollout engine (issue #3) computes them without keeping all logits.
    """
    if seed is not None:
        torch.manual_seed(seed)
    device = next(model.parameters()).device
    prefixes = prefixes or [""] * len(prompts)
    prefix_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] if p else [] for p in prefixes]
    jobs = [(i, j) for i in range(len(prompts)) for j in range(1 if greedy else k)]
    eos = tokenizer.eos_token_id
    out: list[Generation] = []
    was_training = model.training
    model.eval()
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start: start + batch_size]
        texts = [prompts[i] + prefixes[i] for i, _ in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True).to(device)
        res = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=not greedy,
            temperature=temperature if not greedy else None,
            top_p=top_p if not greedy else None,
            top_k=None,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_logits=True,
        )
        new = res.sequences[:, enc["input_ids"].shape[1]:]  # (B, T_new)
        logits = torch.stack(res.logits, dim=1).float()  # (B, T_new, V), raw (before temperature/top-p)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)  # (B, T_new)
        for row, (i, j) in enumerate(chunk):
            ids = new[row].tolist()
            finished = eos in ids
            n = ids.index(eos) + 1 if finished else len(ids)
            gen_ids = ids[:n]
            out.append(
                Generation(
                    prompt_index=i,
                    sample_index=j,
                    text=prefixes[i] + tokenizer.decode(gen_ids, skip_special_tokens=True),
                    token_ids=prefix_ids[i] + gen_ids,
                    logprobs=[0.0] * len(prefix_ids[i]) + logp[row, :n].tolist(),
                    finished=finished,
                    truncated=not finished,
                )
            )
        if progress is not None:
            progress(len(chunk))
    model.train(was_training)
    return out
