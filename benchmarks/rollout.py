"""Rollout throughput: k15's engine against plain `model.generate`, same batch and sampling, alternated in one run.

    python benchmarks/rollout.py                   # warms up the tiny model briefly (mixed answer lengths), then measures
    python benchmarks/rollout.py --model DIR       # a given model (e.g. a workspace's models/warmup)
    python benchmarks/rollout.py --smoke           # an untrained model and a tiny budget: checks the script runs (CI)

The batch is an RL iteration's: P prompts of the demo task x k samples, at most --max-tokens new tokens each,
temperature 1, no top-k, no top-p. The model is one that answers in the demo's mixed styles (a bare answer of
10 tokens, or a chain of thought of up to 90), so response lengths are long-tailed as in RL with long CoT.
Sides, each timed over the same batch, rounds alternating:
- `generate`: plain `model.generate` (KV cache, one batch; a finished row is padded until the longest ends);
- `generate_logits`: the same with `output_logits=True`, which k15's reference path needs for log-probs;
- `k15`: the trainer's engine, `compact_continue` (finished rows leave the batch and the KV cache), with
  log-probs and entropies.
Throughput counts real tokens only (up to and including EOS). `speedup_vs_generate` = k15 tokens/s over plain
generate's (median over rounds). Response-length percentiles show the tail. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from k15core.config import ModelConfig  # noqa: E402

from k15core.models import build_tiny_model, load_model  # noqa: E402
from k15core.rollout.compact import compact_continue  # noqa: E402
from k15core.rollout.hf import sampling_kwargs  # noqa: E402
from k15core.tokens import left_pad  # noqa: E402
from k15core.tasks.recurrence import RecurrenceTask  # noqa: E402


def quick_warmup(out: Path, examples: int) -> Path:
    """The tiny model after a short warm-up on the demo's style mix: it answers at mixed lengths."""
    from k15core.config import DEMO_CONFIG, load_config
    from k15core.sft import build_warmup_set, train_sft

    cfg = load_config(DEMO_CONFIG, [f"sft.examples={examples}"])
    model_dir = build_tiny_model(cfg.model, out / "tiny")
    model, tok = load_model(model_dir)
    train_sft(model, tok, build_warmup_set(RecurrenceTask(eval_per_level=1), cfg.sft), cfg.sft, out_dir=out / "warm", progress=False)
    return out / "warm"


def run_generate(model, tok, contexts, max_tokens: int, logits: bool) -> list[int]:
    ids, mask = left_pad(contexts, tok.pad_token_id)
    width = ids.shape[1]
    with torch.no_grad():
        res = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, **sampling_kwargs(False, 1.0, 1.0),
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, return_dict_in_generate=True, output_logits=logits)
        if logits:
            torch.log_softmax(torch.stack(res.logits, 1).float(), -1)  # what the reference path does with them
    rows = res.sequences[:, width:].tolist()
    return [r.index(tok.eos_token_id) + 1 if tok.eos_token_id in r else len(r) for r in rows]


def run_k15(model, tok, contexts, max_tokens: int) -> list[int]:
    out = compact_continue(model, contexts, [max_tokens] * len(contexts), eos=tok.eos_token_id, pad=tok.pad_token_id)
    return [len(o.token_ids) for o in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the tiny model after a short warm-up made here)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup-examples", type=int, default=3000, help="SFT examples of the short warm-up (without --model)")
    ap.add_argument("--smoke", action="store_true", help="untrained model, tiny budget (a check that the script runs, not a measurement)")
    args = ap.parse_args()
    prompts, k, max_tokens, rounds = (2, 2, 8, 1) if args.smoke else (args.prompts, args.k, args.max_tokens, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_dir = Path(args.model)
        elif args.smoke:
            model_dir = build_tiny_model(ModelConfig(), Path(tmp) / "tiny")
        else:
            model_dir = quick_warmup(Path(tmp), args.warmup_examples)
        model, tok = load_model(model_dir)
        model.eval()
        problems = RecurrenceTask(eval_per_level=1).train_problems(prompts, seed=7)
        contexts = [tok(p.prompt, add_special_tokens=False)["input_ids"] for p in problems for _ in range(k)]
        run_k15(model, tok, contexts[:2], 4)  # first-call overheads out of the way
        run_generate(model, tok, contexts[:2], 4, True)
        sides = {"generate": lambda: run_generate(model, tok, contexts, max_tokens, False),
                 "generate_logits": lambda: run_generate(model, tok, contexts, max_tokens, True),
                 "k15": lambda: run_k15(model, tok, contexts, max_tokens)}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        lengths: dict[str, list[int]] = {name: [] for name in sides}
        for r in range(rounds):
            for name, fn in sides.items():
                torch.manual_seed(1000 * r)
                t0 = time.perf_counter()
                got = fn()
                seconds = time.perf_counter() - t0
                rates[name].append(sum(got) / seconds)
                print(f"round {r + 1}/{rounds} {name}: {rates[name][-1]:.0f} tokens/s", file=sys.stderr, flush=True)
                lengths[name] += got
        tps = {name: statistics.median(v) for name, v in rates.items()}

        def pct(xs):
            return {f"p{q}": float(np.percentile(xs, q)) for q in (10, 50, 90)} | {"max": max(xs), "mean": round(float(np.mean(xs)), 1)}

        print(json.dumps({
            "benchmark": "rollout", "smoke": args.smoke, "model": str(args.model or ("tiny, untrained" if args.smoke else f"tiny after {args.warmup_examples}-example warm-up")),
            "threads": torch.get_num_threads(), "rows": len(contexts), "max_tokens": max_tokens, "rounds": rounds,
            "tokens_per_s": {name: round(v, 1) for name, v in tps.items()},
            "speedup_vs_generate": round(tps["k15"] / tps["generate"], 3),
            "speedup_vs_generate_with_logits": round(tps["k15"] / tps["generate_logits"], 3),
            "lengths": {name: pct(v) for name, v in lengths.items()}, "goal": 1.5,
        }))


if __name__ == "__main__":
    main()
