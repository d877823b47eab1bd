"""The Runs tab's plots: which metrics each panel draws, how its axes read, the tidy frame it is fed, its colours.

Pure functions (no Gradio import): `plot_settings` gives a panel's gr.LinePlot settings, `panel_frame` its data,
`series_colors` its colour map. The names, units and axis kinds come from `k15core.curves`: a share is drawn as a
percentage on an axis fixed at 0-100 %, anything else on an axis fitted to its data.

Whole-number iteration ticks: Gradio's native LinePlot (Vega-Lite) offers no tick step, and over a few iterations
Vega puts ticks at 0.05, 0.1, ... . The x labels are formatted "~f" (no trailing zeros: 1, not 1.00) and
WHOLE_TICKS_JS, loaded once by the Runs tab, hides every fractional label with its tick and grid line. Over many
iterations Vega's own ticks are whole already and the script leaves them alone.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pandas as pd

from k15core.curves import PERCENT, PERCENT_RANGE, curve, ema, shown
from k15core.metrics import describe_metric

ITERATION_AXIS = "RL iteration"
PLOT_HEIGHT = 280
RAW = " (raw)"
"""Suffix of the series that holds a curve's unsmoothed values while smoothing is on (a faint line under it)."""

# Vega's tableau10, the colours the plots use anyway, handed out in order of first appearance.
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")


@dataclass(frozen=True)
class Panel:
    title: str
    metrics: tuple[str, ...]
    """Metric names; a name ending in '/d*' stands for every difficulty level."""
    y_title: str

    def matches(self, name: str) -> bool:
        for m in self.metrics:
            if m.endswith("/d*") and name.startswith(m[:-1]) and name[len(m) - 1:].isdigit():
                return True
            if name == m:
                return True
        return False

    @property
    def axis(self) -> str:
        """PERCENT or LINEAR: the axis kind of its metrics (one kind per panel, tested)."""
        return curve(self.metrics[0].replace("/d*", "/d1")).axis

    def described(self) -> list[tuple[str, str, str]]:
        """Per metric: its legend name, its store name and what it measures (k15core.metrics)."""
        out = []
        for m in self.metrics:
            concrete = m.replace("/d*", "/dd")  # named 'level d'
            out.append((curve(concrete).name, m, describe_metric(concrete).removeprefix("RL: ")))
        return out

    def caption(self) -> str:
        return "\n".join(f"{name} ({m}): {what}" for name, m, what in self.described())

    def caption_markdown(self) -> str:
        """The caption shown under the plot: a line per metric, its legend name in bold, every other character literal."""
        return "  \n".join(f"**{literal_md(name)}** ({literal_md(m)}): {literal_md(what)}" for name, m, what in self.described())


def literal_md(text: str) -> str:
    """`text` shown as itself in Markdown, inside a list item: HTML escaped, and the marks of emphasis, code, links
    and tables made literal characters (no link can form without brackets)."""
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", html.escape(text, quote=False))


PANELS: tuple[Panel, ...] = (
    Panel("Reward", ("rl/reward",), "mean reward"),
    Panel("Accuracy by difficulty", ("rl/accuracy", "rl/accuracy/d*", "rl/heldout_accuracy"), "% correct"),
    Panel("Response length p10 / p50 / p90", ("rl/len_p10", "rl/len_p50", "rl/len_p90"), "tokens"),
    Panel("Length of correct vs wrong responses", ("rl/len_mean_correct", "rl/len_mean_wrong"), "tokens"),
    Panel("How responses end: truncated, repeated, with EOS", ("rl/truncated", "rl/repeated", "rl/finished", "rl/unparsed"), "% of responses"),
    Panel("No learning signal; masked context tokens", ("rl/same_reward_groups", "rl/masked_token_share"), "% of groups / of tokens"),
    Panel("KL to the iteration's start policy", ("rl/kl",), "nats per token"),
    Panel("Entropy", ("rl/entropy",), "nats per token"),
    Panel("Throughput", ("time/rollout_tokens_per_s", "time/train_tokens_per_s"), "tokens / s"),
)


def plot_settings(panel: Panel) -> dict:
    """The gr.LinePlot keyword arguments of a panel: whole-number iteration labels, a share's axis fixed at 0-100 %,
    numbers without trailing zeros. Its caption is a Markdown below it (`caption_markdown`): the plot's own caption
    sits inside its fixed height and was cut off."""
    percent = panel.axis == PERCENT
    return dict(
        x="iteration", y="value", color="series", title=panel.title, x_title=ITERATION_AXIS, y_title=panel.y_title,
        x_axis_format="~f", y_axis_format="~f", y_lim=list(PERCENT_RANGE) if percent else None, color_title="curve", height=PLOT_HEIGHT,
        elem_classes=["k15-plot"],
    )


def legend_names(runs: list[dict]) -> dict[int, str]:
    """How a legend names each run when several are overlaid: its name; with its id as well where two share a name."""
    count: dict[str, int] = {}
    for r in runs:
        count[r["name"]] = count.get(r["name"], 0) + 1
    return {r["id"]: r["name"] if count[r["name"]] == 1 else f"{r['name']} (#{r['id']})" for r in runs}


def panel_frame(cache, panel: Panel, labels: dict[int, str], smoothing: float = 0.0) -> pd.DataFrame:
    """Tidy rows (iteration, value, series) of one panel from a MetricCache; values as shown (shares in %).

    A series is the curve's readable name, prefixed with the run's label (`labels`) when several runs are shown.
    With `smoothing` > 0 each series holds its exponential moving average (k15core.curves.ema), and its raw
    values follow as the series '<name> (raw)'."""
    several = len(cache.rows) > 1
    records = []
    for rid, rows in cache.rows.items():
        points: dict[str, list[tuple[int, float]]] = {}
        for r in rows:
            if panel.matches(r["name"]):
                name = curve(r["name"]).name
                series = f"{labels.get(rid, f'#{rid}')} · {name}" if several else name
                points.setdefault(series, []).append((r["iteration"], shown(r["name"], r["value"])))
        for series, pts in points.items():
            pts.sort(key=lambda p: p[0])
            its, values = [p[0] for p in pts], [p[1] for p in pts]
            smooth = ema(values, smoothing) if smoothing > 0 else values
            records += [{"iteration": i, "value": v, "series": series} for i, v in zip(its, smooth)]
            if smoothing > 0:
                records += [{"iteration": i, "value": v, "series": series + RAW} for i, v in zip(its, values)]
    return pd.DataFrame(records, columns=["iteration", "value", "series"])


def faint(colour: str, strength: float = 0.35) -> str:
    """`colour` (#rrggbb) mixed with white, `strength` of it left: the raw line under a smoothed one.

    >>> faint("#000000", 0.5)
    '#808080'
    """
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * strength):02x}" for c in rgb)


def series_colors(frame: pd.DataFrame) -> dict[str, str]:
    """A colour per series of one panel's frame, in order of first appearance; a raw series gets its curve's colour, faint.

    Why the plots need it: Gradio 6.31's LinePlot builds its colour scale from the series of the frame it holds when
    it draws the chart, and a later frame only swaps the data in. A series that appears afterwards (a second run
    overlaid) is outside the scale and its line gets no stroke: every panel looked empty. A changed color_map makes
    it draw the chart again, with the frame it holds then. So `recolor` sends the new color_map in an event after
    the frame's own (sent together, the chart is redrawn with the previous frame: measured)."""
    names = list(dict.fromkeys(frame["series"]))
    curves = list(dict.fromkeys(s.removesuffix(RAW) for s in names))
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(curves)}
    return {s: faint(colour[s.removesuffix(RAW)]) if s.endswith(RAW) else colour[s] for s in names}


def in_legend(colors: dict[str, str]) -> list[str]:
    """The series a legend lists: the curves, not their faint raw lines."""
    return [s for s in colors if not s.endswith(RAW)]


def note_colors(cache, frames: list[pd.DataFrame] | None) -> None:
    """Record the panels' colours for `frames` (None: the plots are unchanged) and mark the changed ones due for `recolor`.

    A colour map stays due until `take_recolor` hands it out: the timer's draw can land between a draw and its
    recolor (they are separate events), and clearing what was due there left a smoothed plot's faint line unstroked."""
    if frames is None:
        return
    new = [series_colors(f) for f in frames]
    old = cache.colors or [None] * len(PANELS)
    due = cache.recolor or [None] * len(PANELS)
    cache.recolor = [n if n != o else d for n, o, d in zip(new, old, due)]
    cache.colors = new


def take_recolor(cache) -> list:
    """The colour maps due (None: a panel's is unchanged), no longer due once taken."""
    due = (cache.recolor if cache is not None else None) or [None] * len(PANELS)
    if cache is not None:
        cache.recolor = [None] * len(PANELS)
    return due


PLOTS_CSS = """<style>
.k15-caption, .k15-caption p { font-size: var(--text-sm); line-height: 1.45; }
#runs-progress .k15-progress { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; margin: 2px 0; }
#runs-progress progress { width: 260px; height: 14px; accent-color: var(--color-accent, #f97316); }
</style>"""
"""Loaded into the page's head by the Runs tab: the captions under the plots and the progress bars."""

WHOLE_TICKS_JS = r"""
if (!window.__k15WholeTicks) {
  window.__k15WholeTicks = true;
  const whole = (t) => /^[-\u2212]?\d+$/.test(t.textContent.trim());
  const xOf = (el) => { const m = /translate\(\s*([-\d.e]+)/.exec(el.getAttribute('transform') || ''); return m ? parseFloat(m[1]) : NaN; };
  const set = (el, prop, v) => { if (el.style[prop] !== v) el.style[prop] = v; };
  const fix = (svg) => {
    const axis = svg.querySelector('g.role-axis[aria-label^="X-axis"]');
    if (!axis) return;
    const labels = [...axis.querySelectorAll('.role-axis-label text')];
    const fractional = labels.some((t) => !whole(t));
    const keep = labels.filter(whole).map(xOf);
    const on = (el) => !fractional || keep.some((x) => Math.abs(x - xOf(el)) < 0.75);
    for (const t of labels) { set(t, 'display', on(t) ? '' : 'none'); set(t, 'opacity', fractional && whole(t) ? '1' : ''); }
    for (const l of axis.querySelectorAll('.role-axis-tick line')) set(l, 'display', on(l) ? '' : 'none');
    for (const l of svg.querySelectorAll('g.role-axis[aria-hidden="true"] .role-axis-grid line')) {
      if (l.getAttribute('x2') === '0') set(l, 'display', on(l) ? '' : 'none');  // the vertical lines: the x axis's grid
    }
  };
  let due = false;
  const run = () => { due = false; document.querySelectorAll('.k15-plot svg').forEach(fix); };
  new MutationObserver(() => { if (!due) { due = true; requestAnimationFrame(run); } }).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['transform', 'opacity'] });
  run();
}
"""
"""Hides the fractional ticks of every Runs plot's iteration axis as Vega draws them (see the module's docstring)."""
