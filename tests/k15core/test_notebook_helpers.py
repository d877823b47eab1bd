"""The small helpers the notebooks and the studio share: quick mode, config layering, the live figure,
one-key decisions and the curriculum preset."""
from __future__ import annotations

import pytest

from k15core import labels, notebook, viz
from k15core.sampling import CurriculumPhase, curriculum_levels, easy_then_hard


def test_quick_mode_budgets_and_override_order(monkeypatch):
    monkeypatch.delenv(notebook.QUICK_ENV, raising=False)
    assert not notebook.quick() and notebook.budget(100, 2) == 100
    assert notebook.config().rl.iterations == 40  # the demo preset untouched
    monkeypatch.setenv(notebook.QUICK_ENV, "0")
    assert not notebook.quick()
    monkeypatch.setenv(notebook.QUICK_ENV, "1")
    assert notebook.quick() and notebook.budget(100, 2) == 2
    cfg = notebook.config()
    assert cfg.rl.iterations == 2 and cfg.sft.examples == 384  # quick budgets on top of the preset
    assert notebook.config("rl.iterations=5").rl.iterations == 5  # a notebook's own override still wins
    assert notebook.config("rl.k=3").rl.prompts_per_iter == 4  # and leaves the other quick budgets alone


def test_live_figure_appends_each_iteration():
    fig = viz.live_training_figure()
    viz.add_iteration(fig, 0, {"rl/reward": 0.5, "rl/accuracy": 0.25, "rl/len_mean": 20.0})
    viz.add_iteration(fig, 1, {"rl/reward": 0.75, "rl/accuracy": 0.5})  # no length this time: that trace skips it
    traces = {t.name: (tuple(t.x), tuple(t.y)) for t in fig.data}
    assert traces == {"reward": ((0, 1), (0.5, 0.75)), "accuracy": ((0, 1), (0.25, 0.5)), "mean response tokens": ((0,), (20.0,))}


def test_live_plot_keeps_history_for_the_reader():
    plot = notebook.LivePlot()
    plot(0, {"rl/accuracy": 0.1})
    plot(1, {"rl/accuracy": 0.3})
    assert [h["rl/accuracy"] for h in plot.history] == [0.1, 0.3] and plot.figure.data[1].y == (0.1, 0.3)


def test_token_heatmap_pads_ragged_rows():
    fig = viz.token_heatmap([["a", "b", "c"], ["d"]], [[-0.1, -2.0, -0.5], [-1.0]], ["#0", "#1"], "t")
    assert list(fig.data[0].z[1]) == [-1.0, None, None] and list(fig.data[0].text[1]) == ["d", "", ""]


def test_decisions_map_to_label_events():
    assert labels.decision_label("exclude") == ("status", "excluded")
    assert labels.decision_label("d4") == ("difficulty", 4)
    with pytest.raises(ValueError, match="unknown decision"):
        labels.decision_label("d6")


def test_easy_then_hard_curriculum():
    phases = [CurriculumPhase(**p) for p in easy_then_hard(30)]
    assert curriculum_levels(phases, 0) == [1, 2, 3] and curriculum_levels(phases, 9) == [1, 2, 3]
    assert curriculum_levels(phases, 10) == [4, 5] and curriculum_levels(phases, 29) == [4, 5]
    assert easy_then_hard(1)[1]["start_iteration"] == 1  # a one-iteration run never reaches the hard phase
