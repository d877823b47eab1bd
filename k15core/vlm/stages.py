"""The warm-up and the held-out evaluation of a vision-language model, as `k15 sft` and `k15 eval` run them.

`stages.run_sft` and `stages.run_eval` hand a VLM folder (`model_kinds.kind_of`) to these, which do what the
text stages do (record the run and its metrics in the store, save the model in the workspace, evaluate by level
and style) with the VLM's processor and the workspace's image store. The task must draw pictures (e.g.
`visual-recurrence`); the store's trajectory rows keep the prompt text with its `<image>` marker, and the
pictures stay in the image store, addressed by the problem.
"""
from __future__ import annotations

from pathlib import Path

from k15core.errors import K15Error
from k15core.evaluate import EvalRow, evaluate, record_eval
from k15core.models import pick_device
from k15core.sft import SFTResult
from k15core.tasks import make_task
from k15core.vlm.inputs import NO_PICTURES_HELP, ImagePromptEncoder, shows_pictures, store_pictures
from k15core.vlm.language import mixed_text_examples, train_language
from k15core.vlm.model import load_vlm
from k15core.vlm.read import train_reading
from k15core.vlm.sft import train_visual_sft, visual_warmup_set


def _picture_task(cfg, problems=None):
    """(task, problems: given, else its held-out set), when a VLM has pictures to look at: the task draws them, or
    the problems (a prompt file's) name images."""
    task = make_task(cfg.task)
    problems = task.eval_problems() if problems is None else problems
    if not shows_pictures(task, problems):
        raise K15Error(f"the {task.name} task's prompts have no pictures, so a vision-language model has nothing to look at", NO_PICTURES_HELP)
    return task, problems


def run_visual_sft(ws, store, cfg, base: Path, out_name: str, progress: bool = True) -> SFTResult:
    """Warm up the VLM in `base` on the task's mixed-style set of image prompts (with sft.text_examples of its text
    twin shuffled in, `vlm.language`), after the language stage when
    sft.text_steps > 0 (`vlm.language`) and the read stage when sft.read_steps > 0 (`vlm.read`); save to
    models/<out_name>; record the run."""
    task, _ = _picture_task(cfg)
    model, processor = load_vlm(base, device=pick_device())
    examples = visual_warmup_set(task, cfg.sft, ws.images) + mixed_text_examples(task, cfg.sft)
    run_id = store.create_run(f"sft:{out_name}", "sft", {**cfg.to_dict(), "base_model": str(base), "examples": "task"})
    pending: list[tuple[int, dict]] = []

    def flush() -> None:
        for s, m in pending:
            store.log_metrics(run_id, s, m)
        pending.clear()

    def logger(stage: str, prefix: str = ""):
        """on_step of a stage whose metrics go under sft/<prefix>loss, sft/<prefix>lr, ... ('text_', 'read_')."""
        def on_step(step: int, metrics: dict) -> None:  # one store transaction per 20 steps, as stages.run_sft
            pending.append((step, {k.replace("sft/", f"sft/{prefix}", 1): v for k, v in metrics.items()}))
            if step % 20 == 0:
                flush()
            if progress and (step == 1 or step % 20 == 0):
                print(f"{stage} step {step}: loss {metrics['sft/loss']:.3f}")
        return on_step

    try:
        if cfg.sft.text_steps:  # each stage before the warm-up logs under its own metric names
            train_language(model, processor, task, cfg.sft, on_step=logger("language", "text_"))
            flush()
        if cfg.sft.read_steps:
            train_reading(model, processor, task, cfg.sft, ws.images, on_step=logger("read", "read_"))
            flush()
        result = train_visual_sft(model, processor, examples, cfg.sft, ws.images, out_dir=ws.model_dir(out_name), on_step=logger("warm-up"))
    except BaseException:
        store.set_run_status(run_id, "stopped")
        raise
    flush()
    store.set_run_status(run_id, "finished")
    return result


def run_visual_eval(ws, store, cfg, model_dir: Path, problems=None, name: str = "", progress: bool = True) -> list[EvalRow]:
    """Evaluate the VLM in `model_dir` on `problems` (default: the task's held-out set), by level and style; record every answer."""
    task, problems = _picture_task(cfg, problems)
    store_pictures(task, problems, ws.images)
    model, processor = load_vlm(model_dir, device=pick_device())
    run_id = store.create_run(f"eval:{name or model_dir.name}", "eval", {**cfg.to_dict(), "model_dir": str(model_dir)})
    encode = ImagePromptEncoder(processor, ws.images, task.instruction)
    return record_eval(store, run_id, lambda: evaluate(model, processor.tokenizer, task, problems, cfg.eval, progress=progress, encode=encode))
