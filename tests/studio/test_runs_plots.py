"""How the Runs tab's plots read, as plain functions: axes, names, smoothing, colours (the browser side is in
test_runs_readable_browser.py)."""
from __future__ import annotations

import pandas as pd
import pytest

from k15core.curves import LINEAR, PERCENT, curve, ema, shown
from studio import runs_plots
from studio.runs_plots import PANELS, RAW, legend_names, panel_frame, plot_settings, series_colors


def _panel(title_start: str) -> runs_plots.Panel:
    return next(p for p in PANELS if p.title.startswith(title_start))


class _Cache:
    """What panel_frame reads of a MetricCache: the metric rows per run."""

    def __init__(self, rows: dict[int, list[dict]]):
        self.rows = rows


def _rows(name: str, values: list[float], start: int = 0) -> list[dict]:
    return [{"iteration": start + i, "name": name, "value": v} for i, v in enumerate(values)]


def test_every_panel_has_whole_number_iteration_labels_and_shares_a_fixed_0_to_100_percent_axis():
    for panel in PANELS:
        s = plot_settings(panel)
        assert s["x"] == "iteration" and s["x_title"] == "RL iteration" and s["x_axis_format"] == "~f"  # 1, not 1.00
        kinds = {curve(m.replace("/d*", "/d1")).axis for m in panel.metrics}
        assert kinds == {panel.axis}, panel.title  # one axis kind per panel
        if panel.axis == PERCENT:
            assert s["y_lim"] == [0.0, 100.0] and "%" in s["y_title"], panel.title
        else:
            assert s["y_lim"] is None and "%" not in s["y_title"], panel.title  # fitted to the data
    assert _panel("Accuracy").axis == PERCENT and _panel("How responses end").axis == PERCENT and _panel("No learning signal").axis == PERCENT
    assert _panel("Reward").axis == LINEAR and _panel("Response length").axis == LINEAR and _panel("Entropy").axis == LINEAR


def test_the_registry_names_metrics_readably_and_shows_shares_as_percentages():
    assert curve("rl/accuracy/d4").name == "accuracy, level 4"
    assert curve("rl/len_p50").name == "median length" and curve("rl/len_p50").unit == "tokens"
    assert curve("rl/truncated").name == "cut at the token limit" and curve("rl/truncated").axis == PERCENT
    assert curve("time/rollout_tokens_per_s").name == "rollout" and curve("time/train_s").name == "train"
    assert curve("eval/free/accuracy").name == "held-out accuracy, free"
    assert shown("rl/accuracy", 0.375) == 37.5 and shown("rl/masked_token_share", 0.5) == 50.0 and shown("rl/kl", 0.5) == 0.5
    for panel in PANELS:  # no panel's legend shows a raw store name
        for m in panel.metrics:
            assert "/" not in curve(m.replace("/d*", "/d2")).name, m


def test_legends_name_the_runs_by_name_and_add_the_id_only_where_two_share_one():
    runs = [{"id": 3, "name": "rl:demo"}, {"id": 2, "name": "rl:lr-1e-5"}, {"id": 1, "name": "rl:demo"}]
    assert legend_names(runs) == {3: "rl:demo (#3)", 2: "rl:lr-1e-5", 1: "rl:demo (#1)"}
    cache = _Cache({2: _rows("rl/reward", [0.1]), 3: _rows("rl/reward", [0.2])})
    frame = panel_frame(cache, _panel("Reward"), legend_names(runs))
    assert set(frame["series"]) == {"rl:lr-1e-5 · reward", "rl:demo (#3) · reward"}
    one = panel_frame(_Cache({2: _rows("rl/accuracy", [0.5]) + _rows("rl/accuracy/d1", [0.25])}), _panel("Accuracy"), legend_names(runs))
    assert one.to_dict("records") == [{"iteration": 0, "value": 50.0, "series": "accuracy, all levels"},  # one run: the curve's name alone
                                      {"iteration": 0, "value": 25.0, "series": "accuracy, level 1"}]


def test_ema_by_hand():
    # s0 = x0 = 1; s1 = 0.5 * 1 + 0.5 * 3 = 2; s2 = 0.5 * 2 + 0.5 * 2 = 2; s3 = 0.5 * 2 + 0.5 * 6 = 4
    assert ema([1.0, 3.0, 2.0, 6.0], 0.5) == [1.0, 2.0, 2.0, 4.0]
    # w = 0.9: s1 = 0.9 * 0 + 0.1 * 10 = 1; s2 = 0.9 * 1 + 0.1 * 10 = 1.9
    assert ema([0.0, 10.0, 10.0], 0.9) == pytest.approx([0.0, 1.0, 1.9])
    assert ema([4.0, 1.0], 0.0) == [4.0, 1.0] and ema([], 0.5) == []
    with pytest.raises(ValueError, match="outside"):
        ema([1.0], 0.99)


def test_smoothing_draws_the_moving_average_over_the_faint_raw_values():
    cache = _Cache({1: _rows("rl/accuracy", [0.2, 0.6, 0.4])})  # 20, 60, 40 %
    frame = panel_frame(cache, _panel("Accuracy"), {}, smoothing=0.5)
    smooth = frame[frame["series"] == "accuracy, all levels"]
    raw = frame[frame["series"] == "accuracy, all levels" + RAW]
    # s0 = 20; s1 = 0.5 * 20 + 0.5 * 60 = 40; s2 = 0.5 * 40 + 0.5 * 40 = 40
    assert smooth["iteration"].tolist() == [0, 1, 2] and smooth["value"].tolist() == pytest.approx([20.0, 40.0, 40.0])
    assert raw["value"].tolist() == pytest.approx([20.0, 60.0, 40.0])
    assert panel_frame(cache, _panel("Accuracy"), {}, smoothing=0.0)["value"].tolist() == pytest.approx([20.0, 60.0, 40.0])  # off: raw only
    # two runs: each curve smoothed on its own
    two = panel_frame(_Cache({1: _rows("rl/reward", [0.0, 1.0]), 2: _rows("rl/reward", [1.0, 1.0])}), _panel("Reward"), {1: "a", 2: "b"}, 0.5)
    assert two[two["series"] == "a · reward"]["value"].tolist() == [0.0, 0.5] and two[two["series"] == "b · reward"]["value"].tolist() == [1.0, 1.0]


def test_a_raw_series_gets_its_curves_colour_faint_and_stays_out_of_the_legend():
    frame = pd.DataFrame({"iteration": [0, 0, 0, 0], "value": [1, 1, 2, 2], "series": ["a", "a" + RAW, "b", "b" + RAW]})
    colours = series_colors(frame)
    assert colours == {"a": runs_plots.PALETTE[0], "a" + RAW: runs_plots.faint(runs_plots.PALETTE[0]),
                       "b": runs_plots.PALETTE[1], "b" + RAW: runs_plots.faint(runs_plots.PALETTE[1])}
    assert runs_plots.in_legend(colours) == ["a", "b"]
    # faint: each channel 35 % of its way from white, 255 - (255 - c) * 0.35:
    # 0x4c = 76 -> 192.35 -> 0xc0; 0x78 = 120 -> 207.75 -> 0xd0; 0xa8 = 168 -> 224.55 -> 0xe1
    assert runs_plots.faint("#4c78a8") == "#c0d0e1"


def test_captions_name_each_curve_and_say_what_it_measures_with_markup_kept_literal():
    caption = _panel("Reward").caption_markdown()
    assert caption.startswith("**reward** (rl/reward): mean total reward") and "w \\* length" in caption
    acc = _panel("Accuracy").caption_markdown()
    assert "**accuracy, level d** (rl/accuracy/d\\*): accuracy of the responses to prompts of difficulty d." in acc
    assert acc.count("  \n") == 2  # a line per metric
