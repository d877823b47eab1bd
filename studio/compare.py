"""Compare: one prompt's sample at two (run, iteration) sides, side by side, with a token-level diff (studio/token_diff.py).

The defaults, when a group opens in the Rollouts tab: the same run, the first and the last iteration the prompt was
sampled in, sample 0 on each side. A side's samples are the group its history row opens (the smallest id at that
iteration and its group), so a sample number means the same here as in the group view. Model text is escaped.
Once Compare is pressed the inputs are part of the view in the address (studio/view_links.py); a link that sets them
also opens its group, whose defaults then leave them alone (they are on that prompt already) and the link draws them.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable

import gradio as gr

from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from studio import token_diff as D


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a run, an iteration of it, and a sample index in the prompt's group there."""

    run_id: int
    iteration: int
    sample: int = 0


@dataclass(frozen=True)
class Defaults:
    prompt_id: str
    a: Side
    b: Side
    iterations: list[int]
    """Every iteration the prompt was sampled in, in run `a.run_id`."""


def default_sides(store: Store, prompt_id: str, run_id: int | None = None) -> Defaults | None:
    """The prompt in `run_id` (or the newest run that sampled it): its first and last iteration, sample 0. None if never sampled."""
    if run_id is None:
        newest = store.find_trajectories(TrajectoryFilter(prompt_id=prompt_id), limit=1)
        if not newest:
            return None
        run_id = newest[0]["run_id"]
    iterations = [r["iteration"] for r in store.prompt_over_iterations(int(run_id), prompt_id)]
    if not iterations:
        return None
    return Defaults(prompt_id, Side(int(run_id), iterations[0]), Side(int(run_id), iterations[-1]), iterations)


def side_group(store: Store, prompt_id: str, side: Side) -> list[dict]:
    """The samples (with tokens) of the prompt's group at this side's run and iteration; [] if it was not sampled there."""
    f = TrajectoryFilter(run_id=side.run_id, iteration_min=side.iteration, iteration_max=side.iteration, prompt_id=prompt_id)
    rows = store.find_trajectories(f, limit=10_000)
    return store.trajectory_group(min(r["id"] for r in rows)) if rows else []


def _pick(store: Store, prompt_id: str, side: Side, name: str) -> dict:
    group = side_group(store, prompt_id, side)
    if not group:
        its = [r["iteration"] for r in store.prompt_over_iterations(side.run_id, prompt_id)]
        where = f"it was sampled at iterations {', '.join(map(str, its))}" if its else "it was never sampled in that run"
        raise ValueError(f"side {name}: prompt {prompt_id!r} has no samples at iteration {side.iteration} of run #{side.run_id}; {where}")
    by_index = {t["sample_index"]: t for t in group}
    if side.sample not in by_index:
        raise ValueError(f"side {name}: no sample {side.sample} at iteration {side.iteration}; its samples are {', '.join(map(str, sorted(by_index)))}")
    return by_index[side.sample]


def compare_html(ctx, prompt_id: str, a: Side, b: Side, pieces_of: Callable) -> str:
    """Both sides' samples, their tokens marked where they differ, and a line that counts the differences.
    `pieces_of(tokenizer, token_ids)` gives each token's text (rollouts_tab.token_pieces)."""
    picked = {name: _pick(ctx.store, prompt_id, side, name) for name, side in (("A", a), ("B", b))}
    pieces = {name: pieces_of(ctx.tokenizer_for_run(ctx.store.run(t["run_id"])), t["token_ids"]) for name, t in picked.items()}
    spans = D.token_diff(pieces["A"], pieces["B"])
    n = D.diff_counts(spans)
    summary = (f'<div class="k15-compare-summary">prompt <code>{html.escape(prompt_id)}</code> · {n.equal} tokens the same · '
               f'<span class="k15-diff-del">{n.deleted} only in A</span> · <span class="k15-diff-ins">{n.inserted} only in B</span> · '
               f'<span class="k15-diff-rep">{n.replaced_a} in A replaced by {n.replaced_b} in B</span></div>')
    columns = []
    for name, side_key in (("A", "a"), ("B", "b")):
        t = picked[name]
        classes = D.side_classes(spans, side_key, len(pieces[name]))
        verdict = "✓ correct" if t["correct"] > 0 else "✗ wrong"
        head = (f'<div class="k15-card-head"><b>{name}: run #{t["run_id"]}, iteration {t["iteration"]}, sample {t["sample_index"]}</b> '
                f'<small>id {int(t["id"])}</small> {verdict} · reward {t["reward"]:.3f} · {t["length"]} tokens</div>')
        columns.append(f'<div class="k15-card k15-compare-side" data-side="{side_key}">{head}'
                       f'<div class="k15-tokens">{D.side_html(pieces[name], t["token_ids"], classes)}</div></div>')
    return summary + '<div class="k15-cards k15-compare">' + "".join(columns) + "</div>"


CSS = """
.k15-diff-del { background: rgba(220, 60, 60, 0.45); text-decoration: line-through; }
.k15-diff-ins { background: rgba(40, 160, 70, 0.45); }
.k15-diff-rep { background: rgba(230, 170, 30, 0.5); }
.k15-cards.k15-compare { grid-template-columns: 1fr 1fr; }
"""


def _int(x, what: str) -> int:
    """A whole number from a dropdown (an int, or the text typed) or a gr.Number (which may send 2.0)."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    try:
        return int(str(x).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a whole number, not {x!r}") from None


def build(ctx, current_prompt: gr.Textbox, runs: Callable[[], list[tuple[str, int]]], pieces_of: Callable) -> dict:
    """The compare panel under the prompt's history: filled with the defaults when a group opens (`runs()`: the run
    dropdowns' choices then); Compare draws it."""
    with gr.Accordion("Compare this prompt at two iterations or in two runs (token diff)", open=False, elem_id="compare"):
        prompt = gr.Textbox(label="prompt id", elem_id="compare-prompt")
        fields = []
        for name in ("A", "B"):
            with gr.Row():
                fields += [gr.Dropdown(label=f"{name}: run", choices=runs(), value=None, allow_custom_value=True, elem_id=f"compare-{name.lower()}-run"),
                           gr.Dropdown(label=f"{name}: iteration", choices=[], value=None, allow_custom_value=True, elem_id=f"compare-{name.lower()}-it"),
                           gr.Number(label=f"{name}: sample", value=0, precision=0, elem_id=f"compare-{name.lower()}-sample")]
        go = gr.Button("Compare", variant="primary", elem_id="compare-go")
        view = gr.HTML(elem_id="compare-view", head=f"<style>{CSS}</style>")

    compared = gr.State(False)  # whether the inputs were compared (Compare pressed, or a link's view): only then are they in the address

    def fill(pid: str, shown: str):
        """The defaults for the group just opened; none when the inputs are on its prompt already (a link set them)."""
        d = default_sides(ctx.store, pid) if pid and pid != (shown or "").strip() else None
        if d is None:
            return [gr.skip()] * 8
        run_list = runs()
        return [False, d.prompt_id, gr.Dropdown(choices=run_list, value=d.a.run_id), gr.Dropdown(choices=d.iterations, value=d.a.iteration), 0,
                gr.Dropdown(choices=run_list, value=d.b.run_id), gr.Dropdown(choices=d.iterations, value=d.b.iteration), 0]

    def draw(pid, run_a, it_a, s_a, run_b, it_b, s_b) -> str:
        try:
            a = Side(_int(run_a, "A's run"), _int(it_a, "A's iteration"), _int(s_a, "A's sample"))
            b = Side(_int(run_b, "B's run"), _int(it_b, "B's iteration"), _int(s_b, "B's sample"))
            return compare_html(ctx, (pid or "").strip(), a, b, pieces_of)
        except ValueError as err:
            return f"<p>{html.escape(str(err))}</p>"

    current_prompt.change(fill, [current_prompt, prompt], [compared, prompt, *fields], api_visibility="private")
    go.click(draw, [prompt, *fields], view, api_name="compare_samples").then(lambda: True, None, compared, api_visibility="private")
    return {"prompt": prompt, "view": view, "go": go, "inputs": [prompt, *fields], "compared": compared, "draw": draw}
