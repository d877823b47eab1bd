"""The vLLM engine's image-prompt path without vLLM: partial rollouts of image prompts reach a fake `LLM` as vLLM's
token prompts with one `<image>` marker per picture and the picture itself, read from the image store by the address
the trajectory carries; what the fake returns comes back into the trajectories. The GPU test with vLLM itself is
tests/gpu/test_vllm_vlm.py."""
from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest

from k15core.errors import K15Error
from k15core.rollout.engine import image_settings
from k15core.rollout.partial import rollout_step
from k15core.rollout.vllm_engine import VLLMEngine
from k15core.rollout.vllm_inputs import collapse_image_runs, vllm_prompt
from k15core.tasks.visual_recurrence import VisualRecurrenceTask
from k15core.types import Group, Trajectory
from k15core.vlm.images import ImageStore, image_address
from k15core.vlm.inputs import encode_prompt, store_pictures
from k15core.vlm.model import load_vlm

TASK = VisualRecurrenceTask(levels=(1, 2), eval_per_level=2)


class FakeLLM:
    """Records what `generate` is given; answers each prompt with tokens 5, 6 and EOS (log-probs -0.5 each)."""

    def __init__(self, eos: int):
        self.eos, self.prompts, self.slept = eos, [], 0

    def generate(self, prompts, params, use_tqdm=False):
        self.prompts += prompts
        ids = [5, 6, self.eos]
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, logprobs=[{t: SimpleNamespace(logprob=-0.5)} for t in ids])])
                for _ in prompts]

    def sleep(self, level):
        self.slept += 1


@pytest.fixture
def fake_vllm(monkeypatch):
    """`vllm` and `vllm.inputs` as far as the engine's `continue_ids` uses them (SamplingParams, TokensPrompt)."""
    vllm, inputs = ModuleType("vllm"), ModuleType("vllm.inputs")
    vllm.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    inputs.TokensPrompt = dict  # a TypedDict in vLLM: a plain dict at run time
    vllm.inputs = inputs
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)


def _engine(eos, **image_args):
    """A VLLMEngine around a FakeLLM, built without vLLM (its __init__ starts the real one)."""
    engine = object.__new__(VLLMEngine)
    engine.eos, engine.temperature, engine.top_p, engine.repeat_rule, engine.seed, engine.calls = eos, 1.0, 1.0, None, 0, 0
    engine.images, engine.image_token_id, engine.tokens_per_image = image_args.get("images"), image_args.get("image_token_id"), image_args.get("tokens_per_image")
    engine.sleeping, engine.llm = set(), FakeLLM(eos)
    return engine


def test_collapse_image_runs():
    assert collapse_image_runs([1, 9, 9, 2, 9, 9, 9, 9], 9, tokens_per_image=2) == ([1, 9, 2, 9, 9], 3)
    assert collapse_image_runs([9, 9, 9, 1], 9) == ([9, 1], 1)  # without a length, one run is one image
    with pytest.raises(K15Error, match="not a whole number of images"):
        collapse_image_runs([1, 9, 9, 9], 9, tokens_per_image=2)


def test_partial_rollouts_of_image_prompts_reach_vllm_as_one_marker_and_the_picture(tiny_vlm_dir, tmp_path, fake_vllm):
    model, processor = load_vlm(tiny_vlm_dir)
    store = ImageStore(tmp_path / "images")
    problems = TASK.train_problems(2, seed=0)
    store_pictures(TASK, problems, store)
    groups = []
    for gid, p in enumerate(problems):
        enc = encode_prompt(processor, p.prompt, TASK.images(p))
        groups.append(Group(gid, p, [Trajectory(p, gid, j, list(enc.ids), pixel_values=enc.pixel_values) for j in range(2)], started=0))
    settings = image_settings(model, store)
    assert settings["image_token_id"] == processor.tokenizer.convert_tokens_to_ids("<image>") and settings["tokens_per_image"] == 36
    engine = _engine(processor.tokenizer.eos_token_id, **settings)
    generated = rollout_step(groups, 0, engine.continue_ids, segment_tokens=0, max_response_tokens=8)
    sent = engine.llm.prompts
    assert generated == 4 * 3 and len(sent) == 4 and engine.llm.slept == 1
    for request, t in zip(sent, [t for g in groups for t in g.members]):
        # the prompt as the tokenizer writes it before the processor expands the marker: one <image> token
        assert request["prompt_token_ids"] == processor.tokenizer(t.problem.prompt, add_special_tokens=False)["input_ids"]
        picture = request["multi_modal_data"]["image"]
        assert image_address(picture) == t.problem.images[0]  # the problem's own picture, read from the store
        assert t.token_ids == [5, 6, processor.tokenizer.eos_token_id] and t.logprobs == [-0.5] * 3 and t.eos


def test_a_response_continued_later_is_sent_with_its_picture_again(tiny_vlm_dir, tmp_path, fake_vllm):
    _, processor = load_vlm(tiny_vlm_dir)
    store = ImageStore(tmp_path / "images")
    [p] = TASK.train_problems(1, seed=1)
    store_pictures(TASK, [p], store)
    enc = encode_prompt(processor, p.prompt, TASK.images(p))
    engine = _engine(processor.tokenizer.eos_token_id, images=store, image_token_id=processor.tokenizer.convert_tokens_to_ids("<image>"),
                     tokens_per_image=36)
    response = [7, 8]
    [request] = engine.requests([enc.ids + response], [p.images], [0])
    assert request["prompt_token_ids"][-2:] == response and request["prompt_token_ids"].count(engine.image_token_id) == 1
    assert image_address(request["multi_modal_data"]["image"]) == p.images[0]


def test_text_prompts_go_as_they_are_and_disagreeing_images_are_refused(tmp_path, fake_vllm):
    assert vllm_prompt([1, 2, 3], (), None, None) == {"prompt_token_ids": [1, 2, 3]}
    engine = _engine(0)
    [c] = engine.continue_ids([[1, 2]], [4], [2])
    assert engine.llm.prompts == [{"prompt_token_ids": [1, 2]}] and c.token_ids == [5, 6, 0]
    with pytest.raises(K15Error, match="without their pictures' addresses"):
        engine.continue_ids([[1, 9]], [4], [2], pixel_values=[object()])
    with pytest.raises(K15Error, match="no image store"):
        engine.continue_ids([[1, 9]], [4], [2], pixel_values=[object()], images=[("a" * 64,)])
    with pytest.raises(K15Error, match=r"1 image\(s\) in its tokens and names 2"):
        vllm_prompt([1, 9, 9], ("a" * 64, "b" * 64), ImageStore(tmp_path), image_token_id=9, tokens_per_image=2)
