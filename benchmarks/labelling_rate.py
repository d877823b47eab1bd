"""Labelling by keyboard in the Prompts tab: seconds per prompt, with and without a `k15 train` running, and events lost.

    python benchmarks/labelling_rate.py                    # 40 prompts idle, then 40 while a run trains
    python benchmarks/labelling_rate.py --prompts 10 --no-train

A fresh workspace with N recurrence prompts (and, for the training half, a tiny model that `k15 train` trains in
its own process on the same store). The studio runs in this process; headless Chromium opens its Prompts tab and
labels every prompt as a fast reviewer would: wait until the card shows the prompt, press `3` (difficulty 3), then
`a` (keep, and on to the next). The clock runs from the first key to the moment the store holds every label, so a
store slowed by the trainer shows in the number. Events lost: the label events the keys meant (prompt, field,
value), compared with the events the store holds under the reviewer's name (must be 0; extra events are counted too).
The last line printed is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
USER = "bench-reviewer"
BROWSER_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
TRAIN_SETS = ["rl.prompts_per_iter=4", "rl.k=2", "rl.max_response_tokens=12", "rl.minibatches=1", "rl.pool_size=20", "rl.iterations=10000",
              "rl.checkpoint_every=1000", "rl.sampler=uniform", "task.levels=[1,2]", "task.eval_per_level=2", "rl.doctor=false"]
"""As the studio's end-to-end test: a tiny run that keeps committing iterations (the doctor off: an untrained model cannot learn)."""


def make_workspace(root: Path, n: int) -> None:
    from k15core.store import Store
    from k15core.tasks import RecurrenceTask

    root.mkdir(parents=True, exist_ok=True)
    store = Store(root / "k15.db")
    store.add_prompts(RecurrenceTask().train_problems(n, seed=11), source="benchmark")
    store.close()


def start_training(root: Path, model: Path) -> subprocess.Popen:
    """`k15 train` on the workspace; returns once its first iteration is stored."""
    from k15core.store import Store

    cmd = [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(root), "--quiet", "--model", str(model)]
    cmd += [a for s in TRAIN_SETS for a in ("--set", s)]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    store, deadline = Store(root / "k15.db"), time.time() + 600
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"k15 train ended: {proc.stderr.read()[-2000:]}")
            runs = store.runs(kind="rl")
            if runs and (store.last_iteration(runs[0]["id"]) or 0) >= 1:
                return proc
            time.sleep(0.5)
    finally:
        store.close()
    raise RuntimeError("k15 train stored no iteration in 10 minutes")


def label_by_keyboard(root: Path, n: int, chromium: str) -> dict:
    from playwright.sync_api import expect, sync_playwright

    from studio.app import build_app, serve

    os.environ["K15_USER"] = USER
    app = build_app(root)
    url = serve(app, block=False, quiet=True)
    store = app.k15_context.store
    ids = [p["id"] for p in store.prompts()][:n]  # the grid's first n (a training run adds its own prompts to the store)
    meant = [(pid, field, value) for pid in ids for field, value in (("difficulty", 3), ("status", "kept"))]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("tab", name="Prompts").click()
            box = page.locator("#prompt-id textarea, #prompt-id input").first
            expect(box).to_have_value(ids[0], timeout=60_000)
            page.locator("body").click(position={"x": 5, "y": 5})
            t0 = time.perf_counter()
            for pid in ids:
                page.locator(f'#prompt-card [data-prompt-id="{pid}"]').wait_for(timeout=60_000)  # the reviewer sees the prompt
                page.keyboard.press("3")
                page.keyboard.press("a")
            typed_s = time.perf_counter() - t0
            deadline = time.time() + 300
            while time.time() < deadline and len([e for e in store.label_events() if e["author"] == USER]) < len(meant):
                time.sleep(0.05)
            saved_s = time.perf_counter() - t0
            time.sleep(2.0)  # anything late or extra
            got = [(e["prompt_id"], e["field"], e["value"]) for e in store.label_events() if e["author"] == USER]
            browser.close()
    finally:
        app.close()
        store.close()
    lost = sum(1 for m in meant if m not in got)
    return {"prompts": len(ids), "keys": 2 * len(ids), "events_meant": len(meant), "events_stored": len(got), "events_lost": lost,
            "events_extra": sum(1 for g in got if g not in meant), "in_order": got == meant, "typed_s": round(typed_s, 2),
            "saved_s": round(saved_s, 2), "seconds_per_prompt": round(saved_s / len(ids), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--no-train", action="store_true", help="only the idle half")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH (tools/install_chromium.sh installs it)")
    out = {"cpus": os.cpu_count(), "load_1min_at_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        idle = Path(tmp) / "idle"
        make_workspace(idle, args.prompts)
        out["idle"] = label_by_keyboard(idle, args.prompts, chromium)
        print(json.dumps({"idle": out["idle"]}), flush=True)
        if not args.no_train:
            from k15core.config import ModelConfig
            from k15core.models import build_tiny_model

            model = Path(tmp) / "tiny"
            build_tiny_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128), model)
            busy = Path(tmp) / "training"
            make_workspace(busy, args.prompts)
            proc = start_training(busy, model)
            try:
                before = _iterations(busy)
                out["training"] = label_by_keyboard(busy, args.prompts, chromium)
                out["training"]["iterations_during"] = _iterations(busy) - before  # the trainer really was committing meanwhile
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
    out["load_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


def _iterations(root: Path) -> int:
    from k15core.store import Store

    store = Store(root / "k15.db")
    try:
        run = store.runs(kind="rl")[0]
        return int(store.last_iteration(run["id"]) or 0)
    finally:
        store.close()


if __name__ == "__main__":
    main()
