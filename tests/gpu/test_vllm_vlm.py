"""The vLLM engine on image prompts against the Hugging Face VLM, on a CUDA GPU (skipped without one, or without the
`gpu` extra). The tiny VLM (LLaVA: SigLIP tower + the tiny Qwen2) answers an image prompt of the visual task through
vLLM's multimodal path (`rollout.vllm_inputs`: one marker and the picture from the image store); the log-prob vLLM
reports for each sampled token must be the HF model's, given the same picture's pixel values. Not yet run: no GPU
with vLLM was lent to the session that wrote it. The CPU side is tests/k15core/vlm/test_vlm_vllm_requests.py."""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def vlm_setup(tmp_path_factory):
    pytest.importorskip("vllm")
    from k15core.config import ModelConfig
    from k15core.rollout.engine import image_settings
    from k15core.rollout.vllm_engine import VLLMEngine
    from k15core.tasks.visual_recurrence import VisualRecurrenceTask
    from k15core.vlm.images import ImageStore
    from k15core.vlm.inputs import store_pictures
    from k15core.vlm.model import build_tiny_vlm, load_vlm

    folder = build_tiny_vlm(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128),
                            tmp_path_factory.mktemp("tiny-vlm"))
    model, processor = load_vlm(folder, device="cuda")
    task = VisualRecurrenceTask(levels=(1, 4), eval_per_level=2)
    problems = task.train_problems(3, seed=0)
    store = ImageStore(tmp_path_factory.mktemp("images"))
    store_pictures(task, problems, store)
    engine = VLLMEngine(folder, processor.tokenizer.eos_token_id, seed=0, dtype="float32", gpu_memory_utilization=0.2, max_model_len=512,
                        enforce_eager=True, **image_settings(model, store))
    return engine, model.eval(), processor, task, problems


def _hf_logprobs(model, processor, task, problem, prompt_ids, response):
    from k15core.tokens import token_logprobs
    from k15core.vlm.inputs import encode_prompt, pixel_inputs

    pixels = encode_prompt(processor, problem.prompt, task.images(problem)).pixel_values
    ids = torch.tensor([prompt_ids + response], device="cuda")
    with torch.no_grad():
        logp, _ = token_logprobs(model, ids, torch.ones_like(ids), extra={k: v.cuda() for k, v in pixel_inputs([pixels]).items()})
    return logp[0, len(prompt_ids) - 1:].float().cpu()


def test_vllm_logprobs_on_image_prompts_match_the_hf_vlm(vlm_setup):
    from k15core.vlm.inputs import encode_prompt

    engine, model, processor, task, problems = vlm_setup
    encoded = [encode_prompt(processor, p.prompt, task.images(p)) for p in problems]
    results = engine.continue_ids([e.ids for e in encoded], [24] * len(problems), [len(e.ids) for e in encoded],
                                  pixel_values=[e.pixel_values for e in encoded], images=[p.images for p in problems])
    assert all(len(r.token_ids) == len(r.logprobs) > 0 for r in results)
    for p, e, r in zip(problems, encoded, results):
        hf = _hf_logprobs(model, processor, task, p, e.ids, r.token_ids)
        assert torch.allclose(torch.tensor(r.logprobs), hf, atol=2e-3), (r.logprobs, hf.tolist())
    # the picture matters: the first answer's tokens scored by HF under another problem's picture differ from vLLM's
    other = _hf_logprobs(model, processor, task, problems[1], encoded[0].ids, results[0].token_ids)
    assert not torch.allclose(torch.tensor(results[0].logprobs), other, atol=2e-3)
