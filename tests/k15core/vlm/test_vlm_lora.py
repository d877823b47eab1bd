"""LoRA on a VLM (k15core.vlm.lora): RL trains adapters on the language model only, the run saves them beside the
processor, and the saved folder loads back onto its base VLM as the policy that was trained."""
from __future__ import annotations

import json

import torch

from k15core.vlm.model import is_vision_model, load_vlm
from test_vlm_train import RL, TINY


def test_rl_with_lora_on_a_vlm_trains_language_model_adapters_and_saves_them_loadable(workspace, tiny_vlm_dir):
    from k15core import stages
    from k15core.config import load_config

    cfg = load_config(overrides=[*TINY, *RL, "rl.iterations=1", "rl.segment_tokens=0", "rl.doctor=false", "rl.checkpoint_every=0",
                                 "model.lora=true", "model.lora_targets=[q_proj,v_proj]"])
    run, _ = stages.run_rl(workspace, workspace.store(), cfg, tiny_vlm_dir, out_name="rl-lora", progress=False)
    trainable = [n for n, p in run.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable), trainable
    assert any(n.endswith("q_proj.lora_A.default.weight") for n in trainable)
    assert not any("vision_tower" in n and "lora_" in n for n, _ in run.model.named_parameters())  # the tower's q_proj: no adapter

    saved = workspace.model_dir("rl-lora")
    assert json.loads((saved / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_vlm_dir)
    assert not (saved / "config.json").exists() and (saved / "processor_config.json").exists()
    assert is_vision_model(saved)  # followed to its base: the folder takes the VLM path everywhere
    model, processor = load_vlm(saved)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == trainable  # loaded trainable, the same adapters

    store = workspace.store()
    record = store.trajectories(run.state.run_id)[0]  # an image prompt the run trained on, with its picture
    image = workspace.images.load(store.prompt(record.prompt_id)["images"][0])
    batch = processor(text=[record.prompt], images=[image], return_tensors="pt")
    with torch.no_grad():
        run.model.eval()
        model.eval()
        want = run.model(**batch).logits
        got = model(**batch).logits
    assert torch.allclose(want, got, atol=1e-5)
