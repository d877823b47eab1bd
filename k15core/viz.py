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
