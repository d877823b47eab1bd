"""The Runs tab's choice of the plots' colours, as a plain function (the browser side is in test_runs_browser.py)."""
from __future__ import annotations

import pandas as pd

from studio import runs_tab


def _frame(*series: str) -> pd.DataFrame:
    return pd.DataFrame([{"iteration": i, "value": 0.1 * i, "series": s} for s in series for i in range(2)], columns=["iteration", "value", "series"])


def test_colours_are_resent_only_when_a_panels_series_change():
    n = len(runs_tab.PANELS)
    cache = runs_tab.MetricCache.empty()
    runs_tab.note_colors(cache, [_frame("reward")] + [_frame()] * (n - 1))
    assert cache.recolor[0] == {"reward": runs_tab.PALETTE[0]} and cache.recolor[1] == {}
    runs_tab.note_colors(cache, [_frame("reward")] + [_frame()] * (n - 1))  # new points, same series: nothing to send
    assert cache.recolor == [None] * n
    runs_tab.note_colors(cache, [_frame("#2 b · reward", "#1 a · reward")] + [_frame()] * (n - 1))  # a second run overlaid
    assert cache.recolor[0] == {"#2 b · reward": runs_tab.PALETTE[0], "#1 a · reward": runs_tab.PALETTE[1]}
    assert cache.recolor[1:] == [None] * (n - 1)
    runs_tab.note_colors(cache, None)  # the tick changed nothing
    assert cache.recolor == [None] * n
