"""The vLLM engine against the Hugging Face model on a CUDA GPU (skipped without one, or without the `gpu`
extra). Not yet run: no GPU was lent to the sessions that wrote it (see issue 8's notes). `tools/gpu_check.sh`
runs these with the rest of tests/gpu."""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def engine_and_model(tiny_model_dir):
    pytest.importorskip("vllm")
    from k15core.models import load_model
    from k15core.rollout.repeat import RepeatRule
    from k15core.rollout.vllm_engine import VLLMEngine

    model, tok = load_model(tiny_model_dir, device="cuda")
    engine = VLLMEngine(tiny_model_dir, tok.eos_token_id, repeat_rule=RepeatRule(), seed=0, dtype="float32", gpu_memory_utilization=0.2,
                        max_model_len=512, enforce_eager=True)
    return engine, model, tok


def test_vllm_logprobs_match_the_hf_model(engine_and_model):
    from k15core.tokens import token_logprobs

    engine, model, tok = engine_and_model
    prompts = [tok("Seq 372, steps: 4\n", add_special_tokens=False)["input_ids"], tok("Seq 019, steps: 2\n", add_special_tokens=False)["input_ids"]]
    results = engine.continue_ids(prompts, [24, 24], [len(p) for p in prompts])
    assert all(len(r.token_ids) == len(r.logprobs) > 0 for r in results)
    for prompt, r in zip(prompts, results):
        ids = torch.tensor([prompt + r.token_ids], device="cuda")
        logp, _ = token_logprobs(model, ids, torch.ones_like(ids))
        hf = logp[0, len(prompt) - 1:].float().cpu()
        assert torch.allclose(torch.tensor(r.logprobs), hf, atol=2e-3), (r.logprobs, hf.tolist())


def test_vllm_samples_from_pushed_weights(engine_and_model):
    """After `load_weights`, vLLM's log-probs are the changed model's (and no longer the old one's)."""
    from k15core.tokens import token_logprobs

    engine, model, tok = engine_and_model
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "mlp" in name:
                p.mul_(1.5)
    engine.load_weights(model)
    prompt = tok("Seq 555, steps: 3\n", add_special_tokens=False)["input_ids"]
    [r] = engine.continue_ids([prompt], [16], [len(prompt)])
    ids = torch.tensor([prompt + r.token_ids], device="cuda")
    logp, _ = token_logprobs(model, ids, torch.ones_like(ids))
    assert torch.allclose(torch.tensor(r.logprobs), logp[0, len(prompt) - 1:].float().cpu(), atol=2e-3)


def test_building_the_engine_leaves_the_trainers_random_state_alone(tiny_model_dir):
    pytest.importorskip("vllm")
    from k15core.rollout.vllm_engine import VLLMEngine

    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    VLLMEngine(tiny_model_dir, 1, seed=99, dtype="float32", gpu_memory_utilization=0.1, max_model_len=512, enforce_eager=True)
    assert torch.equal(torch.rand(3), expected)

