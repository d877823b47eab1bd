"""The long2short stages, one function each, as `k15 long2short ...` and the benchmark call them.

Every stage reads models by workspace name or folder, saves its result as a workspace model and
records itself as a run in the store (kind `long2short`), like the pipeline's own stages.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from k15core import labels, stages
from k15core.config import Config
from k15core.errors import K15Error
from k15core.evaluate import ALL, EvalRow
from k15core.long2short.merge import merge_models
from k15core.long2short.selection import HumanPair, Sample, choose_pairs, human_pairs, shortest_correct
from k15core.long2short.train import build_pairs, sample_groups, train_dpo, train_rejection
from k15core.long2short.vision import LongModel, choose_visual_pairs, load_long, train_visual_rejection, visual_human_pairs, visual_pairs
from k15core.models import save_model
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


def _sampled_groups(long_dir: Path, long: LongModel, task, problems, cfg: Config, progress: bool, encoded=None):
    """The long model's samples for these prompts (a VLM's with their `encoded` pictures), drawn once per process:
    rejection sampling and DPO called with the same long model and settings (the benchmark does) learn from the same draw."""
    weights = max((f.stat().st_mtime_ns for f in long_dir.glob("*.safetensors")), default=0)
    key = (str(long_dir.resolve()), weights, repr(cfg.task), repr(cfg.long2short))
    if key not in _SAMPLES:
        _SAMPLES.clear()  # one entry is all any caller reuses; don't hold on to old draws
        _SAMPLES[key] = sample_groups(long.model, long.tokenizer, task, problems, cfg.long2short, progress=progress, encoded=encoded)
    return _SAMPLES[key]


def _train_prompts(cfg: Config):
    task = make_task(cfg.task)
    # a seed range of its own: never the RL pool's prompts, never the held-out set
    return task, task.train_problems(cfg.long2short.prompts, seed=30_000 + cfg.long2short.seed)


def run_rejection(ws: Workspace, store: Store, cfg: Config, long_ref: str, out: str, progress: bool = True) -> dict:
    """Shortest rejection sampling: sample the long model, fine-tune it on its shortest correct answers."""
    long_dir = stages.resolve_model(ws, long_ref)
    task, problems = _train_prompts(cfg)
    long = load_long(ws, long_dir, task, problems)
    groups = _sampled_groups(long_dir, long, task, problems, cfg, progress, long.encoded(problems))
    if long.is_vision:
        result, examples = train_visual_rejection(long, problems, groups, cfg.long2short, ws.model_dir(out))
    else:
        result, examples = train_rejection(long.model, long.tokenizer, problems, groups, cfg.long2short, ws.model_dir(out), progress=progress,
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


def stored_human_pairs(store: Store) -> list[HumanPair]:
    """Every DPO pair people made in the studio (`selection.human_pairs` over the store's `preference` marks)."""
    return human_pairs(labels.human_marks(e for e in store.label_events() if e["field"] == "preference").values())


def human_training_pairs(store: Store, pairs: list[HumanPair], tokenizer, task_name: str) -> tuple[list[tuple[str, Sample, Sample]], int]:
    """(prompt, chosen, rejected) of the human pairs, from the stored responses' own tokens, and how many pairs name a
    response the store no longer holds (its iterations rolled back: skipped). K15Error when the pairs' prompts are of
    another task than this run's (their prompts would be rendered with the wrong instruction), or when `tokenizer`
    does not read a response's stored tokens back into its text (the run sampled with another model family)."""
    rows: dict[int, dict] = {}
    for p in pairs:
        if p.chosen not in rows:  # one read per group: it holds both responses of every pair made in it
            rows.update({t["id"]: t for t in store.trajectory_group(p.chosen)})
    tasks = {pid: (store.prompt(pid) or {}).get("task", task_name) for pid in {p.prompt for p in pairs}}
    other = sorted({t for t in tasks.values() if t != task_name})
    if other:
        raise K15Error(f"the human pairs include prompts of task {', '.join(map(repr, other))}, and this DPO run's task is {task_name!r}",
                       "run `k15 long2short dpo` with the config of the run whose answers were marked (--config, or --set task.name=...)")
    out, missing = [], 0
    for p in pairs:
        c, r = rows.get(p.chosen), rows.get(p.rejected)
        if c is None or r is None:
            missing += 1
            continue
        for t in (c, r):
            if tokenizer.decode(t["token_ids"], skip_special_tokens=True) != t["response"]:
                raise K15Error(f"the long model's tokenizer does not read the stored tokens of response {t['id']} (run #{t['run_id']}) back into its text",
                               "train on human pairs with a model of the family that run sampled with (--long)")
        out.append((c["prompt"], *(Sample(t["response"], t["length"], t["correct"] > 0, t["sample_index"], tuple(t["token_ids"])) for t in (c, r))))
    return out, missing


def run_dpo(ws: Workspace, store: Store, cfg: Config, long_ref: str, out: str, progress: bool = True, pairs: str = "auto") -> dict:
    """DPO from the long model: on its own samples' pairs (shortest correct chosen, wrong or much longer rejected),
    on the pairs people marked in the studio, or on both (`pairs`: `selection.choose_pairs`)."""
    marked = stored_human_pairs(store) if pairs != "auto" else []
    if pairs == "human" and not marked:
        raise K15Error("--pairs human, but nobody has marked a DPO pair in this workspace's store",
                       "open a group in the studio's Rollouts tab and mark answers chosen (c) and rejected (r), or use --pairs auto")
    long_dir = stages.resolve_model(ws, long_ref)
    task, problems = _train_prompts(cfg)
    long = load_long(ws, long_dir, task, problems)
    human, human_encoded, missing = [], [], 0
    if marked and long.is_vision:  # each pair with its prompt's pictures, from the store
        human, human_encoded, missing = visual_human_pairs(store, marked, long, lambda st, one: human_training_pairs(st, one, long.tokenizer, cfg.task.name))
    elif marked:
        human, missing = human_training_pairs(store, marked, long.tokenizer, cfg.task.name)
    if pairs == "human" and not human:
        raise K15Error(f"the {len(marked)} human pairs all name responses the store no longer holds (their iterations were rolled back)",
                       "mark answers of stored groups in the studio's Rollouts tab, or use --pairs auto")
    auto, encoded = [], None
    if pairs != "human":
        prompts = long.encoded(problems)
        groups = _sampled_groups(long_dir, long, task, problems, cfg, progress, prompts)
        auto, encoded = visual_pairs(problems, prompts, groups, cfg.long2short) if long.is_vision else (build_pairs(problems, groups, cfg.long2short), None)
    if long.is_vision:
        chosen, encoded = choose_visual_pairs(pairs, auto, encoded or [], human, human_encoded)
    else:
        chosen = choose_pairs(pairs, auto, human)
    result = train_dpo(long.model, long.tokenizer, chosen, cfg.long2short, progress=progress, instruction=task.instruction, encoded=encoded)
    save_model(long.model, long.saver, ws.model_dir(out))  # with a VLM's processor
    # prompts people marked: by text, and for image prompts by pictures too (one level's prompts share one text)
    marked_prompts = len({(p, *e.images) for (p, _, _), e in zip(human, human_encoded)} if long.is_vision else {p for p, _, _ in human})
    metrics = {"l2s/prompts": len(problems) if pairs != "human" else marked_prompts, "l2s/pairs": result.pairs,
               "l2s/pairs_auto": len(auto), "l2s/pairs_human": len(human), "l2s/pairs_duplicate": len(auto) + len(human) - len(chosen),
               "l2s/pairs_missing": missing, "l2s/dpo_steps": result.steps, "l2s/dpo_loss": result.final_loss,
               "l2s/dpo_ranked": result.final_accuracy, "l2s/seconds": result.seconds}
    _record(store, f"dpo:{out}", cfg, metrics, {"long_model": str(long_dir), "pairs": pairs})
    return metrics


def run_long2short_rl(ws: Workspace, store: Store, cfg: Config, long_ref: str, out: str, progress: bool = True):
    """The RL trainer from the long model; `cfg` already carries the long2short RL preset (see the CLI)."""
    return stages.run_rl(ws, store, cfg, stages.resolve_model(ws, long_ref), out_name=out, progress=progress)


def run_short_baseline(ws: Workspace, store: Store, cfg: Config, out: str = "short", progress: bool = True, base: str | None = None):
    """A model warmed up only on short solutions: the 'short-CoT model' that merging averages with. `base`: the model
    to warm up (workspace name or folder; a VLM warms up on image prompts); default the base model, as `k15 sft`'s."""
    from dataclasses import replace

    short_cfg = replace(cfg, sft=replace(cfg.sft, style_mix=dict(SHORT_STYLES), style_mix_by_level={}))
    start = stages.resolve_model(ws, base) if base else stages.base_model(ws, cfg, progress=progress)
    return stages.run_sft(ws, store, short_cfg, start, out_name=out, progress=progress)


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
