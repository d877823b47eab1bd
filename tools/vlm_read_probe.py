"""How fast the tiny VLM learns to read: the read stage alone, with the held-out reading scored as it trains.

    python tools/vlm_read_probe.py --task visual-recurrence-grid --steps 600 --lr 3e-4 --scale 3
    python tools/vlm_read_probe.py --task visual-recurrence --steps 400 --lr 3e-4 --cosine

Builds the tiny VLM of assets/configs/vision.yaml in a temporary folder, then runs the project's read stage
(`k15core.vlm.read`: `read_set`, `read_config`, `train_visual_sft`) at --lr (constant, as `read_config` runs it; or
the warm-up's cosine shape with --cosine), the vision tower and projector at --scale times it, and prints every
--every steps the teacher-forced reading of the task's 200 held-out pictures (`read_accuracy`: the share of digits
read right, 0.1 is chance, and of pictures with all three right), the seconds and the load average. Evidence for
the README's Vision-language models section.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from k15core.config import load_config
    from k15core.tasks import make_task
    from k15core.vlm.images import ImageStore
    from k15core.vlm.model import build_tiny_vlm, load_vlm
    from k15core.vlm.read import read_accuracy, read_config, read_set
    from k15core.vlm.sft import train_visual_sft

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="visual-recurrence-grid")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--scale", type=float, default=3.0, help="the vision tower's and projector's rate, times --lr")
    ap.add_argument("--cosine", action="store_true", help="the warm-up's schedule shape instead of a constant rate")
    ap.add_argument("--every", type=int, default=100)
    args = ap.parse_args()
    cfg = load_config(ROOT / "assets" / "configs" / "vision.yaml", [f"task.name={args.task}", f"sft.read_steps={args.steps}",
                                                                     f"sft.read_lr={args.lr}", f"sft.read_vision_lr_scale={args.scale}"])
    with tempfile.TemporaryDirectory() as tmp:
        model, processor = load_vlm(build_tiny_vlm(cfg.model, Path(tmp) / "model"))
        task, store = make_task(cfg.task), ImageStore(Path(tmp) / "images")
        held = task.eval_problems()
        stage = read_config(cfg.sft)
        if args.cosine:
            stage = dataclasses.replace(stage, warmup_steps=min(cfg.sft.warmup_steps, args.steps // 10), min_lr_ratio=cfg.sft.min_lr_ratio)
        t0 = time.perf_counter()

        def report(step: int, metrics: dict) -> None:
            if step % args.every == 0:
                score = read_accuracy(model, processor, task, held, store)
                model.train()
                print(f"step {step} loss {metrics['sft/loss']:.3f} digits read {score.digits:.3f} all three {score.all:.3f} "
                      f"{time.perf_counter() - t0:.0f} s load {os.getloadavg()[0]:.1f}", flush=True)

        train_visual_sft(model, processor, read_set(task, cfg.sft, store), stage, store, on_step=report, eos=False)


if __name__ == "__main__":
    main()
