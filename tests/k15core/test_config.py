"""Strict config loading: YAML + overrides, unknown keys and wrong types are clear errors."""
from __future__ import annotations

import re

import pytest

from k15core.config import Config, describe, load_config
from k15core.errors import K15Error


def test_defaults_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("sft:\n  lr: 0.01\n  style_mix: {short: 1, long: 1}\neval:\n  styles: [free]\n")
    cfg = load_config(f, ["sft.lr=0.002", "model.lora=true"])
    assert cfg.sft.lr == 0.002 and cfg.model.lora is True
    assert cfg.sft.style_mix == {"short": 1.0, "long": 1.0} and cfg.eval.styles == ["free"]
    assert cfg.sft.batch_size == Config().sft.batch_size


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(overrides=["sft.lr=1"]).sft.lr == 1.0
    with pytest.raises(K15Error, match="sft.batch_size' must be int"):
        load_config(overrides=["sft.batch_size=1.5"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("sft.lrr=1", "unknown config key 'sft.lrr'"),
        ("sftt.lr=1", "unknown config key 'sftt'"),
        ("sft.lr=fast", "'sft.lr' must be float"),
        ("model.lora=1", "'model.lora' must be bool"),
        ("task.levels=3", "'task.levels' must be list"),
        ("sft.lr", "not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(K15Error, match=message):
        load_config(overrides=[override])


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(K15Error) as err:
        load_config(overrides=["sft.lrr=1"])
    assert "did you mean 'sft.lr'" in err.value.fix


def test_bad_files(tmp_path):
    with pytest.raises(K15Error, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sft: [unclosed\n")
    with pytest.raises(K15Error, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(K15Error, match="must hold a mapping"):
        load_config(scalar)


def test_shipped_configs_load():
    from pathlib import Path

    files = sorted(Path(__file__).parents[2].joinpath("assets", "configs").glob("*.yaml"))
    assert files, "assets/configs should ship at least one preset"
    for f in files:
        load_config(f)


def test_every_key_is_documented():
    rows = describe()
    assert len(rows) > 20
    missing = [key for key, _, help_text in rows if not help_text]
    assert not missing, f"config fields without a docstring: {missing}"


def test_int_keyed_maps_survive_a_json_round_trip():
    import json

    cfg = load_config(overrides=["sft.style_mix_by_level={5: {short: 0.7, long: 0.3}}"])
    again = load_config(overrides=[f"sft={json.dumps(cfg.to_dict()['sft'])}"])
    assert again.sft.style_mix_by_level == {5: {"short": 0.7, "long": 0.3}}


@pytest.mark.parametrize("override, says", [
    ("rl.iterations=-5", "rl.iterations is -5, which is below its least value 1"),
    ("rl.k=0", "rl.k is 0, which is below its least value 1"),
    ("rl.epochs=0", "rl.epochs is 0, which is below its least value 1"),
    ("rl.prompts_per_iter=0", "rl.prompts_per_iter is 0"),
    ("rl.max_response_tokens=-1", "rl.max_response_tokens is -1"),
    ("rl.top_p=0", "rl.top_p is 0.0, which is not above 0"),
    ("rl.priority_floor=2", "rl.priority_floor is 2.0, which is above its largest value 1"),
    ("sft.batch_size=0", "sft.batch_size is 0"),
    ("eval.samples=0", "eval.samples is 0"),
    ("long2short.ratio=0.5", "long2short.ratio is 0.5"),
    ("task.eval_per_level=-1", "task.eval_per_level is -1"),
])
def test_numbers_out_of_range_name_the_key_and_its_bound(override, says):
    with pytest.raises(K15Error, match=re.escape(says)):
        load_config(overrides=[override])


def test_the_edges_of_each_range_are_accepted():
    cfg = load_config(overrides=["rl.iterations=1", "rl.k=1", "rl.epochs=1", "rl.top_p=1", "rl.priority_floor=0", "rl.lr=0", "rl.segment_tokens=0",
                                 "rl.repeat_ngram=0", "long2short.ratio=1", "task.eval_per_level=0", "eval.temperature=0"])
    assert (cfg.rl.iterations, cfg.rl.k, cfg.rl.top_p, cfg.long2short.ratio) == (1, 1, 1.0, 1.0)
