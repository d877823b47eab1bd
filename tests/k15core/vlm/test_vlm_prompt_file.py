"""A VLM warmed up, trained with k1.5 RL and evaluated on a prompt file whose rows name images (`task.path`), as a
user's own image prompts would be: every image is read from its file, checked and stored content-addressed in the
workspace, and every prompt row and rollout points at it by address."""
from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

from k15core.cli import main
from k15core.errors import K15Error
from k15core.vlm.images import image_address

TINY = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128"]
SMALL = ["sft.examples=6", "sft.batch_size=3", "rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8",
         "rl.pool_size=6", "rl.checkpoint_every=0", "rl.doctor=false", "eval.max_new_tokens=8", "eval.styles=[free]"]


def _sets(keys):
    return [a for k in keys for a in ("--set", k)]


def _dots_file(folder, rows: int = 8):
    """A math prompt file: how many dots does the picture show? One PNG per row, next to the file."""
    lines = []
    for n in range(1, rows + 1):
        img = Image.new("RGB", (48, 48), "white")
        draw = ImageDraw.Draw(img)
        for i in range(n):
            x, y = 4 + 10 * (i % 4), 4 + 12 * (i // 4)
            draw.ellipse([x, y, x + 6, y + 6], fill="black")
        img.save(folder / f"dots{n}.png")
        lines.append(json.dumps({"id": f"dots-{n}", "prompt": "How many dots? <image>", "reference": str(n), "images": [f"dots{n}.png"],
                                 "difficulty": 1 + n % 2, "solution": f"I count {n}.", "task": "math"}))
    path = folder / "dots.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_warm_up_train_and_evaluate_a_vlm_on_a_prompt_file_with_images(workspace, tmp_path, capsys):
    path = _dots_file(tmp_path)
    task = ["task.name=math", f"task.path={path}", "sft.style_mix={short: 0.5, long: 0.5}"]
    ws = ["--workspace", str(workspace.root), "--quiet"]
    assert main(["build-model", "--kind", "vlm", *ws, *_sets(TINY)]) == 0
    assert main(["sft", "--model", "tiny-vlm", "--out", "warm-file", *ws, *_sets(task + SMALL)]) == 0
    assert main(["train", "--model", "warm-file", "--out", "rl-file", *ws, *_sets(task + SMALL)]) == 0
    assert main(["eval", "--model", "rl-file", *ws, *_sets(task + SMALL)]) == 0
    capsys.readouterr()

    files = {f"dots-{n}": image_address(Image.open(tmp_path / f"dots{n}.png").convert("RGB")) for n in range(1, 9)}
    store = workspace.store()
    run = store.runs(kind="rl")[-1]
    assert run["status"] == "finished"
    records = store.trajectories(run["id"])
    assert records and all(r.prompt == "How many dots? <image>" for r in records)
    for prompt_id in {r.prompt_id for r in records}:  # each trained prompt's row names its own file's picture, stored
        assert store.prompt(prompt_id)["images"] == [files[prompt_id]]
    assert all(a in workspace.images for a in files.values())
    evals = store.runs(kind="eval")
    assert evals and evals[-1]["status"] == "finished"
    assert {r.prompt_id for r in store.trajectories(evals[-1]["id"])} <= set(files)


def test_a_vlm_refuses_a_prompt_file_without_images(workspace, tmp_path):
    from k15core import stages
    from k15core.config import load_config
    from k15core.model_kinds import MODEL_KINDS

    path = tmp_path / "plain.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"What is {n} + 1?", "reference": str(n + 1), "task": "math"}) + "\n" for n in range(8)))
    cfg = load_config(overrides=[*TINY, *SMALL, "task.name=math", f"task.path={path}"])
    MODEL_KINDS.get("vlm").build(cfg.model, workspace.model_dir("v"))
    with pytest.raises(K15Error, match="have no pictures") as err:
        stages.run_rl(workspace, workspace.store(), cfg, workspace.model_dir("v"), out_name="rl-plain", progress=False)
    assert "images column" in err.value.fix
    assert workspace.store().runs(kind="rl") == []
