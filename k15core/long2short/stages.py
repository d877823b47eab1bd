"""The long2short stages, one function each, as `k15 long2short ...` and the benchmark call them.

Every stage reads models by workspace name or folder, saves its result as a workspace model and
records itself as a run in the store (kind `long2short`), like the pipeline's own stages.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from k15core import stages
from k15core.config import Config
from k15core.evaluate import ALL, EvalRow
from k15core.long2short.merge import merge_models
from k15core.long2short.selection import shortest_correct
from k15core.long2short.train import build_pairs, sample_groups, train_dpo, train_rejection
from k15core.models import load_model, pick_device
from k15core.store import Store
from k15core.tasks import make_task
from k15core.workspace import Workspace

L2S_RL_PRESET = Path(__file__).resolve().parents[2] / "assets" / "configs" / "long2short_rl.yaml"
SHORT_STYLES = {"short": 1.0}


def _record(store: Store, name: str, cfg: Config, metrics: dict, extra: dict) -> int:
    run_id = store.create_run(f"long2short:{name}", "long2short", {**cfg.to_dict(), **extra})
    store.log_metrics(run_id, 0, metrics)
    store.set_run_status(run_id, "finished")
    return run_id


def run_merge(ws: Workspace, store: Store, cfg: Config, long_ref: str, short_ref: str, out: str, alpha: float = 0.5) -> Path:
    long_dir, short_dir = stages.resolve_model(ws, long_ref), stages.resolve_model(ws, short_ref)
    path = merge_models(long_dir, short_dir, ws.model_dir(out), alpha)
    _record(store, f"merge:{out}", cfg, {"l2s/alpha": alpha}, {"long_model": str(long_dir), "short_model": str(short_dir)})
    return path


_SAMPLES: dict[tuple, list] = {}  # (long model folder, its mtime, config) -> sampled groups; rejection and DPO share one draw


def _sampled_groups(long_dir: Path, model, tokenizer, task, problems, cfg: Config, progress: bool):
    """The long model's samples for these prompts, drawn once per process: rejection sampling and DPO
    called with the same long model and settings (the benchmark does) learn from the same draw."""
    weights = max((f.stat().st_mtime_ns for f in long_dir.glob("*.safetensors")), default=0)
    key = (str(long_dir.resolve()), weights, repr(cfg.task), repr(cfg.long2short))
    if key not in _SAMPLES:
        _SAMPLES.clear()  # one entry is all any caller reuses; don't hold on to old draws
        _SAMPLES[key] = sample_groups(model, tokenizer, task, problems, cfg.long2short, progress=progress)
    return _SAMPLES[key]


def _train_prompts(cfg: Config):
    task = make_task(cfg.task)
    # a seed range of its own: never the RL pool's prompts, never the held-out set
    return task, task.train_problems(cfg.long2short.prompts, seed=30_000 + cfg.long2short.seed)


def run_rejection(ws: Workspace, store: Store, cfg: Config, long_ref: str, out: str, progress: bool = True) -> dict:
    """Shortest rejection sampling: sample the long model, fine-tune it on its shortest correct answers."""
    long_dir = stages.resolve_model(ws, long_ref)
    task, problems = _train_prompts(cfg)
    model, tokenizer = load_model(long_dir, device=pick_device())
    groups = _sampled_groups(long_dir, model, tokenizer, task, problems, cfg, progress)
    result, examples = train_rejection(model, tokenizer, problems, groups, cfg.long2short, ws.model_dir(out), progress=progress,
                                       instruction=task.instruction)
    sampled = [s for g in groups for s in g]
    kept = [best for best in map(shortest_correct, groups) if best is not None]  # what the examples were made from
    metrics = {
        "l2s/prompts": len(problems), "l2s/kept": len(examples),
        "l2s/sample_len_mean": sum(s.length for s in sampled) / len(sampled),
        "l2s/kept_len_mean": sum(s.length for s in kept) / len(kept),  # generated tokens, as sample_len_mean counts them
        "l2s/sft_steps": result.steps, "l2s/seconds": result.seconds,
    }
    _record(store, f"rejection:{out}", cfg, metrics, {"long_model": str(long_dir)})
    return metrics


def run_dpo(ws: Workspace, store: Store, cfg: Config, long_ref: str, out: str, progress: bool = True) -> dict:
    """DPO from the long model's samples: shortest correct chosen, wrong or much longer rejected."""
    long_dir = stages.resolve_model(ws, long_ref)
    task, problems = _train_prompts(cfg)
    model, tokenizer = load_model(long_dir, device=pick_device())
    groups = _sampled_groups(long_dir, model, tokenizer, task, problems, cfg, progress)
    pairs = build_pairs(problems, groups, cfg.long2short)
    result = train_dpo(model, tokenizer, pairs, cfg.long2short, ws.model_dir(out), progress=progress, instruction=task.instruction)
    metrics = {"l2s/prompts": len(problems), "l2s/pairs": result.pairs, "l2s/dpo_steps": result.steps,
               "l2s/dpo_loss": result.final_loss, "l2s/dpo_ranked": result.final_accuracy, "l2s/seconds": result.seconds}
    _record(store, f"dpo:{out}", cfg, metrics, {"long_model": str(long_dir)})
    return metrics


def run_long2short_rl(ws: Workspace, store: Store, cfg: Config, long_ref: str, out: str, progress: bool = True):
    """The RL trainer from the long model; `cfg` already carries the long2short RL preset (see the CLI)."""
    return stages.run_rl(ws, store, cfg, stages.resolve_model(ws, long_ref), out_name=out, progress=progress)


def run_short_baseline(ws: Workspace, store: Store, cfg: Config, out: str = "short", progress: bool = True):
    """A model warmed up only on short solutions: the 'short-CoT model' that merging averages with."""
    from dataclasses import replace

    short_cfg = replace(cfg, sft=replace(cfg.sft, style_mix=dict(SHORT_STYLES), style_mix_by_level={}))
    return stages.run_sft(ws, store, short_cfg, stages.base_model(ws, cfg, progress=progress), out_name=out, progress=progress)


def free_rows(rows: list[EvalRow]) -> dict[int, EvalRow]:
    """The 'free' style rows (the model chooses how to answer) by difficulty; ALL (0) is every level."""
    return {r.difficulty: r for r in rows if r.style == "free"}


def compare(ws: Workspace, store: Store, cfg: Config, models: dict[str, str], progress: bool = True) -> list[dict]:
    """Evaluate each model (label -> workspace name or folder) on the held-out set in the free style and
    return one row per model and level: accuracy and mean response tokens. Each evaluation is a run in
    the store (`eval:l2s:<label>`), so the studio can open its samples."""
    from dataclasses import replace

    eval_cfg = replace(cfg, eval=replace(cfg.eval, styles=["free"]))
    out = []
    for label, ref in models.items():
        rows = stages.run_eval(ws, store, eval_cfg, stages.resolve_model(ws, ref), name=f"l2s:{label}", progress=progress)
        for level, row in sorted(free_rows(rows).items()):
            out.append({"model": label, "level": "all" if level == ALL else level, **{k: v for k, v in asdict(row).items() if k != "style" and k != "difficulty"}})
    return out
