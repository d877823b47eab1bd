"""The Runs tab's progress bars: pace, ETA and the states of a run, computed by hand."""
from __future__ import annotations

import time

from k15core.runlock import RUNNING_OWNER_GONE
from studio import runs_tab
from studio.runs_progress import iteration_seconds, progress, progress_html


def _run(status: str = "running", done: int = 4, planned: int | None = 10, created: float = 0.0, updated: float = 1000.0) -> dict:
    return {"id": 7, "name": "rl:x", "status": status, "iterations": done, "planned": planned, "created_at": created, "updated_at": updated}


def _clock(t: float) -> str:
    return time.strftime("%H:%M", time.localtime(t))


def test_the_pace_is_the_mean_of_the_iterations_phase_times():
    rows = [{"iteration": it, "name": n, "value": v} for it, n, v in [
        (-1, "doctor/chat_template", 1.0),  # before the run: not an iteration
        (0, "time/rollout_s", 40.0), (0, "time/train_s", 15.0), (0, "time/store_s", 5.0), (0, "time/rollout_tokens_per_s", 300.0),
        (1, "time/rollout_s", 70.0), (1, "time/train_s", 10.0), (1, "rl/reward", 0.5)]]
    assert iteration_seconds(rows) == 70.0  # (40 + 15 + 5) and (70 + 10): 60 and 80 s
    assert iteration_seconds([{"iteration": 0, "name": "rl/reward", "value": 1.0}]) is None


def test_eta_by_hand():
    # 4 of 10 done at 60 s each: 6 left, 360 s after the last write at t=1000, so the run ends at t=1360;
    # at t=1030 that is 330 s away: "about 5 min"
    p = progress(_run(), 60.0, now=1030.0)
    assert (p.state, p.done, p.planned, p.eta_at) == ("running", 4, 10, 1360.0)
    assert p.text == f"iteration 4 of 10 · about 5 min left (ETA {_clock(1360.0)}) · 60 s per iteration"
    late = progress(_run(), 60.0, now=1350.0)  # 10 s before the ETA
    assert f"under a minute left (ETA {_clock(1360.0)})" in late.text and "about under" not in late.text
    # no phase times (an older trainer): the wall clock, created at t=0 and last written at t=1000, is 250 s per iteration
    wall = progress(_run(), None, now=1000.0)
    assert wall.per_iteration_s == 250.0 and wall.eta_at == 1000.0 + 6 * 250.0 and "about 25 min left" in wall.text


def test_the_states_of_a_run():
    starting = progress(_run(done=0), None, now=5.0)
    assert starting.state == "starting" and starting.text.startswith("starting: no iteration recorded yet (0 of 10)") and starting.eta_at is None
    assert progress(_run(done=10), 60.0, now=0).text == "iteration 10 of 10 · finishing: saving the policy"
    assert progress(_run("finished", done=10), 60.0, now=0).text == "finished: iteration 10 of 10 · 60 s per iteration"
    stopped = progress(_run("stopped"), 60.0, now=0)
    assert stopped.state == "stopped" and stopped.text.startswith("stopped after iteration 4 of 10; k15 train --resume") and stopped.eta_at is None
    assert progress(_run(RUNNING_OWNER_GONE), 60.0, now=0).state == "trainer gone"
    assert progress(_run("failed"), 60.0, now=0).text.startswith("failed after iteration 4 of 10")
    unknown = progress(_run(planned=None), 60.0, now=0)
    assert unknown.text.startswith("iteration 4 (no planned count") and unknown.eta_at is None


def test_the_bars_escape_run_names_and_move_while_a_run_starts():
    said = progress_html([("#7 <img src=x onerror=alert(1)>", progress(_run(done=0), None, now=0))])
    assert "<img" not in said and "&lt;img" in said
    assert "<progress aria-label='progress'></progress>" in said  # no value: the browser's moving bar
    said = progress_html([("#7 rl:x", progress(_run(), 60.0, now=1030.0))])
    assert "max='10' value='4'" in said and "data-state='running'" in said


def test_the_tab_draws_a_bar_per_shown_run_at_its_measured_pace():
    rows = [_run(), {**_run("finished", done=3, planned=3), "id": 8, "name": "rl:y"}]
    cache = runs_tab.MetricCache.empty()
    cache.pace = {7: 60.0}
    said = runs_tab.progress_bars(rows, cache, [7, 8], now=1030.0)
    assert "#7 rl:x" in said and "about 5 min left" in said and "#8 rl:y" in said and "finished: iteration 3 of 3" in said
    assert runs_tab.progress_bars(rows, cache, [], now=0) == "<div class='k15-progress'>No RL run shown.</div>"
