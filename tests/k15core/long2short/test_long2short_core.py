"""Long2short's pure parts: which responses are learned from, the DPO loss, and weight merging."""
from __future__ import annotations

import math

import pytest
import torch

from k15core.errors import K15Error
from k15core.long2short.merge import merge_models, merge_state_dicts
from k15core.long2short.selection import Sample, dpo_pairs, shortest_correct
from k15core.losses import dpo_loss
from k15core.config import ModelConfig
from k15core.models import build_tiny_model, load_model


def samples(*spec):
    """spec: (length, correct) pairs -> Samples indexed in order."""
    return [Sample(text=f"s{i}", length=n, correct=c, index=i) for i, (n, c) in enumerate(spec)]


def test_shortest_correct_picks_the_shortest_right_answer_and_none_when_all_wrong():
    s = samples((30, True), (12, False), (20, True), (20, True))
    assert shortest_correct(s).index == 2  # 12 is shorter but wrong; the tie at 20 goes to the first
    assert shortest_correct(samples((5, False), (9, False))) is None
    assert shortest_correct([]) is None


def test_dpo_pairs_follow_the_report():
    s = samples((20, True), (25, True), (30, True), (40, False), (10, False), (19, False), (31, True))
    pairs = dpo_pairs(s, ratio=1.5)
    chosen = {c.index for c, _ in pairs}
    rejected = [r.index for _, r in pairs]
    assert chosen == {0}
    # wrong and longer (3), correct and >= 1.5x (2: 30 = 1.5 * 20, 6: 31); never 1 (25 < 30), 4 or 5 (wrong but shorter)
    assert rejected == [3, 6, 2]
    assert [r.index for _, r in dpo_pairs(s, ratio=1.5, inclusive=False)] == [3, 6]  # strict: 30 is not > 30
    assert [r.index for _, r in dpo_pairs(s, max_pairs=1)] == [3]
    assert dpo_pairs(samples((10, False), (50, False))) == []
    with pytest.raises(ValueError):
        dpo_pairs(s, ratio=0.5)


def test_dpo_pairs_properties_on_random_groups():
    rng = torch.Generator().manual_seed(0)
    for _ in range(200):
        n = int(torch.randint(1, 9, (1,), generator=rng))
        s = samples(*[(int(torch.randint(1, 60, (1,), generator=rng)), bool(torch.rand(1, generator=rng) < 0.5)) for _ in range(n)])
        pairs = dpo_pairs(s)
        best = shortest_correct(s)
        if best is None:
            assert pairs == []
            continue
        for chosen, rejected in pairs:
            assert chosen is best and chosen.correct and rejected.length > chosen.length
            assert not rejected.correct or rejected.length >= 1.5 * chosen.length


def test_dpo_loss_value_and_gradient_match_the_hand_derivation():
    beta = 0.5
    pc = torch.tensor([-10.0, -4.0], requires_grad=True)
    pr = torch.tensor([-12.0, -3.0], requires_grad=True)
    rc, rr = torch.tensor([-11.0, -4.0]), torch.tensor([-11.0, -4.0])
    loss, margins = dpo_loss(pc, pr, rc, rr, beta)
    # margins: 0.5 * ((1) - (-1)) = 1.0 ; 0.5 * ((0) - (1)) = -0.5
    torch.testing.assert_close(margins, torch.tensor([1.0, -0.5]))
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(0.5))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # d/d pc_i = -beta * sigmoid(-m_i) / P ; d/d pr_i = +beta * sigmoid(-m_i) / P
    torch.testing.assert_close(pc.grad, torch.tensor([-beta * sig(-1.0) / 2, -beta * sig(0.5) / 2]))
    torch.testing.assert_close(pr.grad, -pc.grad)


def test_dpo_loss_is_log2_when_policy_equals_reference():
    x = torch.randn(5)
    loss, margins = dpo_loss(x, x - 3, x, x - 3, beta=0.1)
    assert loss.item() == pytest.approx(math.log(2)) and torch.all(margins == 0)


def test_merge_rule_is_identity_on_equal_models_and_linear():
    a = {"w": torch.randn(3, 4), "b": torch.randn(4), "pos": torch.arange(5)}
    b = {"w": torch.randn(3, 4), "b": torch.randn(4), "pos": torch.arange(5)}
    same = merge_state_dicts(a, a, 0.3)
    assert all(torch.equal(same[k], a[k]) for k in a)
    m = merge_state_dicts(a, b, 0.25)
    torch.testing.assert_close(m["w"], 0.25 * a["w"] + 0.75 * b["w"])
    assert torch.equal(merge_state_dicts(a, b, 1.0)["w"], a["w"]) and torch.equal(merge_state_dicts(a, b, 0.0)["b"], b["b"])
    with pytest.raises(ValueError, match="shape"):
        merge_state_dicts(a, {**b, "w": torch.randn(4, 3)})
    with pytest.raises(ValueError, match="different parameters"):
        merge_state_dicts(a, {"w": b["w"], "b": b["b"]})
    with pytest.raises(ValueError, match="non-float"):
        merge_state_dicts(a, {**b, "pos": torch.arange(5) + 1})


SMALL = dict(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64)


def test_merge_models_saves_the_average_and_refuses_mismatches(tmp_path):
    long_dir = build_tiny_model(ModelConfig(**SMALL, init_seed=1), tmp_path / "long")
    short_dir = build_tiny_model(ModelConfig(**SMALL, init_seed=2), tmp_path / "short")
    out = merge_models(long_dir, short_dir, tmp_path / "merged", alpha=0.5)
    merged, _ = load_model(out)
    long_m, _ = load_model(long_dir)
    short_m, _ = load_model(short_dir)
    for name, p in merged.state_dict().items():
        torch.testing.assert_close(p, 0.5 * long_m.state_dict()[name] + 0.5 * short_m.state_dict()[name])

    wide = build_tiny_model(ModelConfig(**{**SMALL, "hidden_size": 64}), tmp_path / "wide")
    with pytest.raises(K15Error, match="different architectures.*hidden_size"):
        merge_models(long_dir, wide, tmp_path / "bad")
    _, tok = load_model(short_dir)
    tok.add_tokens(["<extra>"])
    tok.save_pretrained(short_dir)
    with pytest.raises(K15Error, match="different tokenizers"):
        merge_models(long_dir, short_dir, tmp_path / "bad2")


def test_merge_folds_a_lora_adapter_into_its_base_first(tmp_path):
    from peft import LoraConfig, get_peft_model

    base = build_tiny_model(ModelConfig(**SMALL, init_seed=1), tmp_path / "base")
    model, tok = load_model(base)
    lora = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="CAUSAL_LM", init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    tok.save_pretrained(tmp_path / "adapter")
    full = {k: v.clone() for k, v in lora.merge_and_unload().state_dict().items()}
    out = merge_models(tmp_path / "adapter", base, tmp_path / "merged", alpha=1.0)  # alpha 1: just the adapted model
    merged, _ = load_model(out)
    base_sd = load_model(base)[0].state_dict()
    q = next(k for k in full if "q_proj.weight" in k)
    assert not torch.allclose(full[q], base_sd[q])  # the adapter changed q_proj
    for name, p in merged.state_dict().items():
        torch.testing.assert_close(p, full[name])


def test_pareto_front_keeps_exactly_the_undominated_models():
    from k15core.viz import accuracy_vs_tokens, pareto_front

    pts = [dict(model="long", len_mean=47, accuracy=0.88), dict(model="short", len_mean=4, accuracy=0.55),
           dict(model="dpo", len_mean=35, accuracy=0.87), dict(model="merge", len_mean=40, accuracy=0.80),  # merge: dpo beats it
           dict(model="tie", len_mean=35, accuracy=0.87)]
    assert [p["model"] for p in pareto_front(pts)] == ["short", "dpo", "tie", "long"]
    assert "merge" not in {p["model"] for p in pareto_front(pts)}
    fig = accuracy_vs_tokens(pts)
    markers = fig.data[-1]
    assert list(markers.customdata) == [p["model"] for p in pts] and list(fig.data[0].x) == [4, 35, 35, 47]
