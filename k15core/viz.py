"""Figures shared by the studio, the notebooks and the benchmarks (plotly), and the pure helpers behind them."""
from __future__ import annotations


def pareto_front(points: list[dict], x: str = "len_mean", y: str = "accuracy") -> list[dict]:
    """The points no other point beats: none has fewer-or-equal `x` and higher-or-equal `y` with one of
    them strictly better. Lower x (tokens) and higher y (accuracy) are better. Sorted by x."""
    def dominated(p: dict) -> bool:
        return any(q[x] <= p[x] and q[y] >= p[y] and (q[x] < p[x] or q[y] > p[y]) for q in points)

    return sorted((p for p in points if not dominated(p)), key=lambda p: (p[x], -p[y]))


def accuracy_vs_tokens(points: list[dict], title: str = "Accuracy against mean response tokens"):
    """The report's token-efficiency figure (Figure 7): one marker per model, mean tokens on x, accuracy
    on y, the Pareto frontier as a line. `points`: dicts with model, len_mean, accuracy (and optionally
    accuracy_sd / len_sd for error bars). Up and to the left is better."""
    import plotly.graph_objects as go

    fig = go.Figure()
    front = pareto_front(points)
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[p["len_mean"] for p in front], y=[100 * p["accuracy"] for p in front], mode="lines",
                                 line=dict(dash="dot", color="grey"), name="Pareto frontier", hoverinfo="skip"))
    on_front = {p["model"] for p in front}
    fig.add_trace(go.Scatter(
        x=[p["len_mean"] for p in points], y=[100 * p["accuracy"] for p in points], mode="markers+text",
        text=[p["model"] for p in points], textposition="top center", customdata=[p["model"] for p in points],
        marker=dict(size=[14 if p["model"] in on_front else 9 for p in points]),
        error_y=dict(type="data", array=[100 * p.get("accuracy_sd", 0.0) for p in points], visible=any("accuracy_sd" in p for p in points)),
        error_x=dict(type="data", array=[p.get("len_sd", 0.0) for p in points], visible=any("len_sd" in p for p in points)),
        hovertemplate="%{text}<br>%{x:.1f} tokens<br>%{y:.1f}% right<extra></extra>", name="models",
    ))
    fig.update_layout(title=title, xaxis_title="mean response tokens (fewer is better)", yaxis_title="accuracy % (Pass@1)",
                      template="plotly_white", showlegend=False)
    return fig


LIVE_CURVES = (("rl/reward", "reward", 1), ("rl/accuracy", "accuracy", 1), ("rl/len_mean", "mean response tokens", 2))
"""(metric, trace name, subplot row) of the live training figure."""


def live_training_figure(title: str = "RL, live"):
    """An empty plotly FigureWidget (needs ipywidgets and anywidget) with reward and accuracy on top and
    mean response length below; `add_iteration` appends one iteration's metrics to it."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = go.FigureWidget(make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                                        subplot_titles=("reward and accuracy (training samples)", "mean response length (tokens)")))
    for _, name, row in LIVE_CURVES:
        fig.add_scatter(x=[], y=[], mode="lines+markers", name=name, row=row, col=1)
    fig.update_layout(title=title, template="plotly_white", height=520, xaxis2_title="iteration")
    return fig


def add_iteration(fig, iteration: int, metrics: dict[str, float]) -> None:
    """Append one iteration to a `live_training_figure` (metrics missing from this iteration are skipped)."""
    with fig.batch_update():
        for trace, (key, _, _) in zip(fig.data, LIVE_CURVES):
            if key in metrics:
                trace.x = tuple(trace.x) + (iteration,)
                trace.y = tuple(trace.y) + (metrics[key],)


def token_heatmap(rows: list[list[str]], values: list[list[float]], labels: list[str], title: str, colour: str = "log-prob"):
    """One response per row, one token per cell, coloured by a per-token value (log-prob, entropy...).

    rows: the token strings of each response; values: the value of each token; labels: one per row.
    Rows are padded with blanks on the right. Hover shows the token and its value.
    """
    import plotly.graph_objects as go

    width = max((len(r) for r in rows), default=0)
    z = [list(v) + [None] * (width - len(v)) for v in values]
    text = [[repr(t)[1:-1] for t in r] + [""] * (width - len(r)) for r in rows]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", y=labels, colorscale="RdYlGn" if colour == "log-prob" else "Viridis",
                               reversescale=colour != "log-prob", colorbar=dict(title=colour),
                               hovertemplate="token %{x}: '%{text}'<br>" + colour + " %{z:.3f}<extra>%{y}</extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="response token", yaxis=dict(autorange="reversed"),
                      height=120 + 28 * len(rows))
    return fig
