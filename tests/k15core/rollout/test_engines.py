"""Rollout engine selection and the vLLM engine's pure parts (its GPU test is tests/gpu/test_vllm.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from k15core.errors import K15Error
from k15core.rollout.engine import HFEngine, make_engine
from k15core.rollout.repeat import RepeatRule, detect_repeat
from k15core.rollout.vllm_engine import base_model_path, cut_at_repeat, vllm_available
from k15core.config import RLConfig


def test_cut_at_repeat_stops_where_the_rule_first_fires():
    rule = RepeatRule(max_ngram=2, min_repeats=3, min_tokens=6)
    response = [5, 6]
    new = [7, 8, 7, 8, 7, 8, 9, 9, 9]
    kept, cut = cut_at_repeat(response, new, rule)
    assert cut and kept == [7, 8, 7, 8, 7, 8]  # "7 8" three times back to back (6 tokens): stop right there
    assert detect_repeat(response + kept, rule) and not detect_repeat(response + kept[:-1], rule)
    assert cut_at_repeat(response, [1, 2, 3, 4], rule) == ([1, 2, 3, 4], False)


def test_base_model_path_reads_a_peft_adapter(tmp_path):
    assert base_model_path(tmp_path) == tmp_path
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/models/base"}))
    assert str(base_model_path(tmp_path)) == "/models/base"


def test_make_engine_picks_hf_and_refuses_an_unknown_engine(tiny_model_dir):
    from k15core.models import load_model

    model, tok = load_model(tiny_model_dir)
    engine = make_engine(RLConfig(), model, model, tok, tiny_model_dir, RepeatRule())
    assert isinstance(engine, HFEngine) and engine.model is model
    with pytest.raises(K15Error, match="unknown rollout engine"):
        RLConfig(engine="sglang")  # the config refuses it as it is built ...
    with pytest.raises(K15Error, match="unknown rollout engine"):
        make_engine(SimpleNamespace(engine="sglang"), model, model, tok, tiny_model_dir, RepeatRule())  # ... and so does the registry


@pytest.mark.skipif(vllm_available(), reason="vLLM and a CUDA GPU are here: tests/gpu/test_vllm.py runs the engine itself")
def test_vllm_engine_without_a_gpu_says_what_is_missing(tiny_model_dir):
    from k15core.models import load_model

    model, tok = load_model(tiny_model_dir)
    with pytest.raises(K15Error, match="vLLM or a CUDA GPU is missing"):
        make_engine(RLConfig(engine="vllm"), model, model, tok, tiny_model_dir, RepeatRule())


def test_hf_engine_copies_weights_into_a_separate_rollout_model(tiny_model_dir):
    """The FSDP2 case in one process: the engine samples from a copy and `load_weights` refreshes it."""
    import copy

    from k15core.models import load_model

    model, tok = load_model(tiny_model_dir)
    rollout_model = copy.deepcopy(model)
    engine = HFEngine(rollout_model, tok)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(next(rollout_model.parameters()), next(model.parameters()))
    engine.load_weights(model)
    assert engine.model is rollout_model and torch.equal(next(rollout_model.parameters()), next(model.parameters()))


def test_request_seeds_are_stable_distinct_and_in_range():
    from k15core.rollout.vllm_engine import request_seed

    seeds = {request_seed(7, rank, call, i) for rank in range(4) for call in range(10) for i in range(64)}
    assert len(seeds) == 4 * 10 * 64 and all(0 <= s < 2**31 for s in seeds)
    assert request_seed(7, 1, 2, 3) == request_seed(7, 1, 2, 3) != request_seed(8, 1, 2, 3)
