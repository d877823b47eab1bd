"""One RL policy step (`policy_step.optimise`) on SmolLM2-135M-Instruct: peak RSS and seconds, k15's log-prob
path against the full log-softmax it replaced, each side in its own child process, measured in the same run.

    python benchmarks/real_model_step.py                     # 64 rows (8 prompts x 8 samples), 60 + <=96 tokens
    python benchmarks/real_model_step.py --rows 16 --rounds 1
    python benchmarks/real_model_step.py --smoke             # the tiny model: checks the script runs (CI)

The rows are random tokens of the issue's shape (a chat-template prompt of `--prompt` tokens, responses of 12 to
`--response` tokens; rewards alternate within each group, so every group has a gradient); what is measured is
the step's memory and time, not learning. "full" recomputes token log-probs and entropies as one (N, T, V)
log-softmax each, the path before `tokens.chosen_logprobs`; "k15" is the engine's own. Peak RSS is the child's
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`, Linux: KiB). Sides alternate over `--rounds`; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _full_logprobs(model, ids, attention, keep_from: int = 0):
    """The path before: the head on every position and the whole (N, T, V) log-softmax made and kept for the
    backward pass. The logits handed back start at `keep_from`, as the engine's caller expects (a view: the
    whole tensor stays alive all the same)."""
    import torch

    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1), logits[:, keep_from:]


def _full_entropy(logits):
    import torch

    logp_all = torch.log_softmax(logits.float(), dim=-1)
    return -(logp_all.exp() * logp_all).sum(-1)


def child(args) -> None:
    import resource
    from types import SimpleNamespace

    import torch

    from k15core import policy_step
    from k15core.config import RLConfig
    from k15core.models import load_model
    from k15core.tasks.problem import Problem
    from k15core.types import ScoredBatch, Trajectory

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.variant == "full":
        policy_step.token_logprobs, policy_step.entropy = _full_logprobs, _full_entropy
    model, tok = load_model(args.model_dir)
    g = torch.Generator().manual_seed(0)
    trajs, k = [], 8
    for gid in range(max(1, args.rows // k)):
        prompt = torch.randint(3, len(tok), (args.prompt,), generator=g).tolist()
        for j in range(k):
            t = Trajectory(Problem(id=f"p{gid}", prompt="", reference="0"), gid, j, prompt)
            n = int(torch.randint(12, args.response + 1, (1,), generator=g))
            t.add_segment(0, torch.randint(3, len(tok), (n,), generator=g).tolist(), [0.0] * n)
            trajs.append(t)
    total = torch.tensor([float(t.sample_index % 2) for t in trajs])
    batch = ScoredBatch(trajs, torch.tensor([t.group for t in trajs]), correct=total, length=torch.zeros_like(total),
                        repeat=torch.zeros_like(total), total=total)
    run = SimpleNamespace(cfg=RLConfig(minibatches=1, microbatch_tokens=args.microbatch_tokens), model=model, tokenizer=tok, device=torch.device("cpu"), bf16=False, optimizer=None)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    stats = policy_step.optimise(run, batch, it=0)
    seconds = time.perf_counter() - t0
    print(json.dumps({"variant": args.variant, "seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_before_step_mib": before / 1024, "loss": stats["loss"], "rows": len(trajs)}))


def model_dir(smoke: bool, workspace: Path) -> Path:
    from k15core.models import SMOLLM2, build_tiny_model, find_smollm2_gguf, import_gguf

    if smoke:
        from k15core.config import ModelConfig

        return build_tiny_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128), workspace / "tiny")
    target = workspace / SMOLLM2
    return target if (target / "config.json").exists() else import_gguf(find_smollm2_gguf(), target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=64, help="responses in the step (8 per group)")
    ap.add_argument("--prompt", type=int, default=60, help="prompt tokens (a chat template's share)")
    ap.add_argument("--response", type=int, default=96, help="longest response in tokens")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two sides")
    ap.add_argument("--microbatch-tokens", type=int, default=0, help="rl.microbatch_tokens: padded tokens per micro-batch (0: no cap)")
    ap.add_argument("--workspace", help="where SmolLM2 is (or is imported to): default a temporary folder")
    ap.add_argument("--smoke", action="store_true", help="the tiny model and 16 rows (a check that the script runs)")
    ap.add_argument("--variant", choices=["k15", "full"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        return child(args)
    if args.smoke:
        args.rows, args.prompt, args.response, args.rounds = 16, 8, 24, 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_dir(args.smoke, Path(args.workspace or tmp))
        env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"}
        results: dict[str, list[dict]] = {"k15": [], "full": []}
        for r in range(args.rounds):
            for variant in ("full", "k15"):
                print(f"round {r + 1}/{args.rounds}: {variant} ...", file=sys.stderr, flush=True)
                out = subprocess.run([sys.executable, __file__, "--variant", variant, "--model-dir", str(folder), "--rows", str(args.rows),
                                      "--prompt", str(args.prompt), "--response", str(args.response), "--microbatch-tokens",
                                      str(args.microbatch_tokens)], capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {v: {k: statistics.median(x[k] for x in rs) for k in ("seconds", "peak_rss_mib", "loss")} for v, rs in results.items()}
    print(json.dumps({
        "benchmark": "real_model_step", "smoke": args.smoke, "model": "tiny" if args.smoke else "SmolLM2-135M-Instruct",
        "rows": args.rows, "prompt_tokens": args.prompt, "max_response_tokens": args.response, "rounds": args.rounds,
        "microbatch_tokens": args.microbatch_tokens,
        "k15": med["k15"], "full_log_softmax": med["full"],
        "peak_rss_ratio_k15_over_full": round(med["k15"]["peak_rss_mib"] / med["full"]["peak_rss_mib"], 3),
        "seconds_ratio_k15_over_full": round(med["k15"]["seconds"] / med["full"]["seconds"], 3),
        "same_loss": abs(med["k15"]["loss"] - med["full"]["loss"]) <= 1e-4 * max(1.0, abs(med["full"]["loss"])),
        "machine": f"{os.cpu_count()} cores",
    }))


if __name__ == "__main__":
    main()
