"""Runs tab: live curves of RL runs, read incrementally from the store on a timer; several runs overlaid.

Handlers are plain functions over the store (unit-tested without a browser); `build` wires them to
Gradio components. A tick reads only metric rows newer than the last iteration it has seen. Until the
person picks runs, the tab follows the newest running run (a run started while the page is open takes
over) and says so. The doctor's alarms (k15core.doctor, stored as `doctor/<check>` metrics) are listed
above the plots, with a progress bar per shown run (studio/runs_progress.py). What the plots draw and how their
axes read is studio/runs_plots.py; a smoothing slider draws each curve's moving average over its raw values.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import gradio as gr
import pandas as pd

from k15core.curves import SMOOTHING_MAX
from k15core.doctor import FATAL, Alarm, alarms_from_metrics
from k15core.store import Store
from studio.runs_plots import literal_md as _md
from studio.runs_plots import (  # noqa: F401  (Panel, PANELS, PALETTE, series_colors: the tab's names, used by tests and benchmarks)
    ITERATION_AXIS, PALETTE, PANELS, PLOTS_CSS, WHOLE_TICKS_JS, Panel, in_legend, legend_names, note_colors, panel_frame, plot_settings, take_recolor,
    series_colors,
)
from studio.runs_progress import LEARNING_NOTE, iteration_seconds, progress, progress_html

ITERATION_MEANING = ("One RL iteration = draw `rl.prompts_per_iter` prompts, sample `rl.k` answers to each, score them, "
                     "and update the policy on them (the report's iteration, not an optimizer step).")


def rl_runs(store: Store) -> list[dict]:
    """RL runs, newest first, with their progress: id, name, status, iterations done of planned, last accuracy."""
    out = []
    for run in reversed(store.runs(kind="rl")):
        last = store.last_iteration(run["id"])
        acc = store.metrics(run["id"], since_iteration=(last if last is not None else 0) - 1, names=["rl/accuracy"])
        out.append({
            "id": run["id"], "name": run["name"], "status": run["status"],
            "iterations": 0 if last is None else last + 1, "planned": run["config"].get("rl", {}).get("iterations"),
            "accuracy": round(acc[-1]["value"], 3) if acc else None,
            "updated": time.strftime("%H:%M:%S", time.localtime(run["updated_at"])),
            "created_at": run["created_at"], "updated_at": run["updated_at"],
        })
    return out


def run_label(run: dict) -> str:
    """How the picker, the progress bars and the "following" line name a run: its id and its name (legends: legend_names)."""
    return f"#{run['id']} {run['name']}"


def run_choices(store: Store) -> list[tuple[str, int]]:
    return [(f"{run_label(r)} ({r['status']}, {r['iterations']} it.)", r["id"]) for r in rl_runs(store)]


def followed_run(rows: list[dict]) -> dict | None:
    """The run the tab shows while nobody has picked runs: the newest one training now, else the newest one.
    `rows` as rl_runs gives them, newest first. A run whose trainer is gone does not count as training."""
    running = [r for r in rows if r["status"] == "running"]
    return (running or rows or [None])[0]


def following_markdown(followed: dict | None, follow: bool) -> str:
    """The line that says what the plots show: the followed run, or the person's own pick."""
    if not follow:
        return "Showing the runs you picked. Tick **follow the newest run** (or clear the picker) to follow the newest running run again."
    if followed is None:
        return "No RL run yet: the plots will follow the first one started."
    why = "the newest running run" if followed["status"] == "running" else "the newest run; none is running"
    return (f"Following run **{_md(run_label(followed))}** ({why}); a run started later takes its place. "
            "Pick runs above to stop following.")


@dataclass
class MetricCache:
    """Metric rows read so far, per run, and the last iteration read (the next tick reads only newer rows)."""

    rows: dict[int, list[dict]]
    last: dict[int, int]
    choices: list = field(default_factory=list)
    """The run picker's choices and selection as last sent to the page."""
    selected: list = field(default_factory=list)
    follow: bool | None = None
    """Whether the last draw followed the newest run (the "follow" box it left on the page)."""
    following: str = ""
    """The "following run X" line as last sent."""
    colors: list = field(default_factory=list)
    """Per panel: the colour of each series drawn (series_colors), and the ones the next `recolor` sends (None: unchanged)."""
    recolor: list = field(default_factory=list)
    smoothing: float = 0.0
    """The smoothing the plots were last drawn with."""
    progress: str = ""
    """The progress bars as last sent."""
    pace: dict = field(default_factory=dict)
    """Per run: mean seconds per iteration (runs_progress.iteration_seconds), measured when its rows change."""

    @classmethod
    def empty(cls) -> "MetricCache":
        return cls({}, {})


def refresh(store: Store, run_ids: list[int], cache: MetricCache | None) -> tuple[MetricCache, bool]:
    """Read the metric rows written since the last refresh. Returns the cache and whether anything changed."""
    cache = cache or MetricCache.empty()
    changed = False
    for rid in list(cache.rows):
        if rid not in run_ids:  # a run taken off the plots (`last` has none for a run shown before its first metric)
            del cache.rows[rid]
            cache.last.pop(rid, None)
            changed = True
    for rid in run_ids:
        since = cache.last.get(rid, -(2**31))  # the first read includes iteration -1 (the doctor's check before the run)
        new = store.metrics(rid, since_iteration=since)
        if rid not in cache.rows:
            cache.rows[rid] = []
            changed = True
        if new:
            cache.rows[rid].extend(new)
            cache.last[rid] = max(r["iteration"] for r in new)
            changed = True
    return cache, changed


@dataclass(frozen=True)
class AlarmLine:
    """One check's alarms in one run: the newest firing, and the span of iterations it fired in."""

    run_id: int
    latest: Alarm
    first: int
    times: int


def run_alarms(store: Store, cache: MetricCache) -> list[AlarmLine]:
    """The doctor's alarms of the runs in `cache`, one line per run and check, fatal first, then newest first."""
    lines = []
    for rid, rows in cache.rows.items():
        run = store.run(rid)
        by_check: dict[str, list[Alarm]] = {}
        for a in alarms_from_metrics(rows, (run or {}).get("config", {}).get("rl", {})):
            by_check.setdefault(a.check, []).append(a)
        for found in by_check.values():
            iterations = sorted({a.iteration for a in found})  # a resume may have checked before the run again
            lines.append(AlarmLine(rid, max(found, key=lambda a: a.iteration), iterations[0], len(iterations)))
    return sorted(lines, key=lambda x: (x.latest.severity != FATAL, -x.latest.iteration))


def alarms_markdown(lines: list[AlarmLine], several: bool) -> str:
    """The alarms as a Markdown list (every piece of text escaped); a line saying so when there are none."""
    if not lines:
        return "**Doctor:** no alarms."

    def when(line: AlarmLine) -> str:
        def at(it: int) -> str:
            return "before the run" if it < 0 else f"iteration {it}"
        if line.times == 1:
            return at(line.first)
        return f"{at(line.first)} to {at(line.latest.iteration)} ({line.times} times)"

    out = ["**Doctor:**"]
    for line in lines:
        a = line.latest
        run = f"run #{line.run_id} · " if several else ""
        out.append(f"- {'🛑' if a.severity == FATAL else '⚠️'} **{_md(a.severity)}** · {run}{_md(a.check)} · "
                   f"{_md(when(line))}: {_md(a.cause)}. *Fix:* {_md(a.fix)}")
    return "\n".join(out)


def brushed_iterations(selection) -> tuple[int, int] | None:
    """The iteration range a user brushed on a plot (Gradio gives [x0, x1]), rounded inward."""
    if not selection or len(selection) != 2:
        return None
    lo, hi = sorted(float(x) for x in selection)
    return int(-(-lo // 1)), int(hi // 1)


def progress_bars(rows: list[dict], cache: MetricCache, shown: list[int], now: float | None = None) -> str:
    """The progress bars of the shown runs (`rows` as rl_runs gives them); their pace as of `cache.pace`."""
    by_id = {r["id"]: r for r in rows}
    now = time.time() if now is None else now
    return progress_html([(run_label(by_id[rid]), progress(by_id[rid], cache.pace.get(rid), now)) for rid in shown if rid in by_id])


def build(ctx) -> dict:
    """The Runs tab's components and events; app.py wires "Open in Rollouts" across tabs."""
    with gr.Row():
        runs_box = gr.Dropdown(label="RL runs to plot", multiselect=True, choices=[], value=[], scale=3, elem_id="runs-select")
        with gr.Column(scale=1, min_width=200):
            follow = gr.Checkbox(label="follow the newest run", value=True, elem_id="runs-follow")
            live = gr.Checkbox(label="live (refresh every 2 s)", value=True)
        smoothing = gr.Slider(0.0, SMOOTHING_MAX, value=0.0, step=0.05, scale=2, min_width=260, elem_id="runs-smoothing",
                              label="smoothing (0: off)", info="each curve's moving average, drawn over its raw values (faint)")
    following = gr.Markdown("", elem_id="runs-following")
    bars = gr.HTML("", elem_id="runs-progress", head=PLOTS_CSS, js_on_load=WHOLE_TICKS_JS)
    runs_table = gr.Dataframe(label="RL runs", interactive=False, max_height=220, elem_id="runs-table")
    alarms = gr.Markdown("", elem_id="runs-alarms")
    plots = []
    for i in range(0, len(PANELS), 2):
        with gr.Row(equal_height=False):
            for panel in PANELS[i:i + 2]:
                with gr.Column():
                    plots.append(gr.LinePlot(**plot_settings(panel)))
                    gr.Markdown(panel.caption_markdown(), elem_classes=["k15-caption"])
    with gr.Row():
        it_lo = gr.Number(label="from iteration", precision=0, value=0, minimum=0)
        it_hi = gr.Number(label="to iteration", precision=0, value=0, minimum=0)
        open_btn = gr.Button("Open these iterations in Rollouts", elem_id="open-in-rollouts")
    gr.Markdown("Brush a range on any plot to pick iterations, then open their samples in the Rollouts tab.")
    gr.Markdown(ITERATION_MEANING)
    gr.Markdown(LEARNING_NOTE, elem_id="runs-learning")
    cache = gr.State(None)
    timer = gr.Timer(2.0)

    def draw(selected, follow_on, cache_value, smooth):
        rows = rl_runs(ctx.store)
        choices = [(f"{run_label(r)} ({r['status']}, {r['iterations']} it.)", r["id"]) for r in rows]
        followed = followed_run(rows)
        shown = ([followed["id"]] if followed else []) if follow_on else list(selected or [])
        new_cache, changed = refresh(ctx.store, shown, cache_value)
        if changed:
            new_cache.pace = {rid: iteration_seconds(got) for rid, got in new_cache.rows.items()}
        redraw = changed or smooth != new_cache.smoothing
        labels = legend_names([r for r in rows if r["id"] in new_cache.rows])
        table = pd.DataFrame(rows, columns=["id", "name", "status", "iterations", "planned", "accuracy", "updated"])
        frames = [panel_frame(new_cache, p, labels, smooth) for p in PANELS] if redraw else None
        note_colors(new_cache, frames)
        new_cache.smoothing = smooth
        figs = frames if redraw else [gr.skip()] * len(PANELS)
        said = alarms_markdown(run_alarms(ctx.store, new_cache), len(new_cache.rows) > 1) if changed else gr.skip()
        # the picker is only rewritten when its choices or the runs shown change, so a tick never disturbs a person choosing
        same = new_cache.choices == choices and new_cache.selected == shown
        line = following_markdown(followed, follow_on)
        said_following = gr.skip() if line == new_cache.following else line
        bar = progress_bars(rows, new_cache, shown)
        said_bar = gr.skip() if bar == new_cache.progress else bar
        new_cache.choices, new_cache.selected, new_cache.following, new_cache.progress = choices, shown, line, bar
        new_cache.follow = bool(follow_on)
        return [gr.skip() if same else gr.Dropdown(choices=choices, value=shown), said_following, table, new_cache, said, said_bar, *figs]

    def tick(selected, follow_on, cache_value, smooth):
        """The timer's draw, made only while the page's picker and "follow" box hold what the last draw left there.
        Otherwise a person's pick is on its way (its own event draws): drawing from the page's half-updated values
        (the runs picked, "follow" not yet off) put the followed run back over their choice and left the page
        following nothing."""
        if cache_value is not None and (list(selected or []), bool(follow_on)) != (cache_value.selected, cache_value.follow):
            return [gr.skip()] * len(outputs)
        return draw(selected, follow_on, cache_value, smooth)

    def pick(selected, cache_value, smooth):
        # a person who picks runs stops the following; clearing the picker starts it again
        follow_on = not selected
        return [follow_on, *draw(selected, follow_on, cache_value, smooth)]

    def recolor(cache_value):
        due = take_recolor(cache_value)
        return [cache_value, *(gr.skip() if c is None else gr.LinePlot(color_map=c, colors_in_legend=in_legend(c)) for c in due)]

    inputs = [runs_box, follow, cache, smoothing]
    outputs = [runs_box, following, runs_table, cache, alarms, bars, *plots]
    then_recolor = dict(fn=recolor, inputs=cache, outputs=[cache, *plots], api_visibility="private", show_progress="hidden")
    timer.tick(tick, inputs, outputs, api_visibility="private", show_progress="hidden").then(**then_recolor)
    runs_box.input(pick, [runs_box, cache, smoothing], [follow, *outputs], api_visibility="private").then(**then_recolor)
    follow.input(draw, inputs, outputs, api_visibility="private").then(**then_recolor)
    smoothing.change(draw, inputs, outputs, api_visibility="private", show_progress="hidden", trigger_mode="always_last").then(**then_recolor)
    live.change(lambda on: gr.Timer(active=on), live, timer, api_visibility="private")

    def brush(evt: gr.SelectData):
        got = brushed_iterations(evt.index)
        return [gr.skip(), gr.skip()] if got is None else list(got)

    for plot in plots:
        plot.select(brush, None, [it_lo, it_hi], api_visibility="private")
    return {"runs": runs_box, "follow": follow, "smoothing": smoothing, "open": open_btn, "it_lo": it_lo, "it_hi": it_hi,
            "load": dict(fn=draw, inputs=inputs, outputs=outputs), "tick": tick, "recolor": then_recolor}
