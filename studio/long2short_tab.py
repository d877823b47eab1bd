"""Long2short tab: accuracy against mean response tokens for every model `k15 long2short compare` (or
benchmarks/long2short.py) evaluated, with the Pareto frontier; a row of the table opens that
evaluation's samples in the Rollouts tab.

Every evaluation run named `eval:l2s:<label>` is one measurement; runs sharing a label (seeds) are
averaged into one point with their standard deviation as error bars.
"""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from k15core.store import Store
from k15core.viz import accuracy_vs_tokens

PREFIX = "eval:l2s:"
COLUMNS = ["model", "run", "accuracy %", "mean tokens"]


def measurements(store: Store) -> list[dict]:
    """One dict per long2short evaluation run: model label, run id, accuracy and mean tokens (free style)."""
    out = []
    for run in store.runs(kind="eval"):
        if not run["name"].startswith(PREFIX) or run["status"] != "finished":
            continue
        values = {m["name"]: m["value"] for m in store.metrics(run["id"], names=["eval/free/accuracy", "eval/free/len_mean"])}
        if len(values) == 2:
            out.append({"model": run["name"][len(PREFIX):], "run": run["id"], "accuracy": values["eval/free/accuracy"],
                        "len_mean": values["eval/free/len_mean"]})
    return out


def points(rows: list[dict]) -> list[dict]:
    """Runs of the same model averaged into one point (with sd over runs where there are several)."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        acc, tok = np.array([r["accuracy"] for r in mine]), np.array([r["len_mean"] for r in mine])
        point = {"model": model, "accuracy": float(acc.mean()), "len_mean": float(tok.mean()), "runs": len(mine)}
        if len(mine) > 1:
            point |= {"accuracy_sd": float(acc.std(ddof=1)), "len_sd": float(tok.std(ddof=1))}
        out.append(point)
    return out


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([[r["model"], r["run"], round(100 * r["accuracy"], 1), round(r["len_mean"], 1)] for r in rows], columns=COLUMNS)


def refresh(store: Store):
    rows = measurements(store)
    fig = accuracy_vs_tokens(points(rows)) if rows else None
    note = (f"{len(rows)} evaluations of {len(points(rows))} models. Up and to the left is better; large markers lie on the Pareto frontier."
            if rows else "No long2short evaluations yet: run `k15 long2short compare long=rl short=short ...` or benchmarks/long2short.py.")
    return fig, table(rows), note


def build(ctx) -> dict:
    note = gr.Markdown()
    with gr.Row():
        plot = gr.Plot(label="accuracy against mean response tokens", scale=3)
        with gr.Column(scale=2):
            runs = gr.Dataframe(headers=COLUMNS, interactive=False, label="evaluations: click a row to open its samples", elem_id="l2s-runs")
            reload = gr.Button("Refresh")
    outputs = [plot, runs, note]
    reload.click(lambda: refresh(ctx.store), None, outputs, api_name="long2short_refresh")
    return {"refresh": dict(fn=lambda: refresh(ctx.store), inputs=None, outputs=outputs), "runs": runs}
