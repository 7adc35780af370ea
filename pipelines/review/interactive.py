"""Interactive HTML twins of the review plots a reviewer would rather explore than look at: the score histogram
(hover for counts, zoom into the tail) and the time series with its score (zoom and pan along the whole series).

Made with Plotly (a well-kept plotting library; see the README's library table), each file self-contained: the
plotting script is written into the page, not fetched from a CDN, because these machines, and many reviewers',
have no internet. MLflow's UI shows an ``.html`` artifact in a sandboxed frame that runs scripts.
"""

from __future__ import annotations

import numpy as np

MAX_INTERACTIVE_POINTS = 200_000
"""The most points per trace in an HTML plot (a random subset of scores, an evenly thinned series, beyond)."""


MAX_BINS = 2_000
"""The most bins of an HTML histogram over all its scores (their width then grows past a 60th of the normal span)."""


def _html(fig) -> str:
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})


def _thin(n: int) -> slice:
    return slice(None, None, max(1, -(-n // MAX_INTERACTIVE_POINTS)))


def score_histogram(
    scores: np.ndarray,
    threshold: float,
    reference: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    title: str = "Anomaly scores",
) -> str:
    """The PNG score histogram's data, interactive: overlaid histograms (normal and anomaly, or scored and the
    calibration split), the threshold as a line; the initial view spans the normal scores as the PNG does."""
    import plotly.graph_objects as go

    rng = np.random.default_rng(0)

    def subset(values):
        values = np.asarray(values, dtype=float)
        return values if len(values) <= MAX_INTERACTIVE_POINTS else rng.choice(values, MAX_INTERACTIVE_POINTS)

    from pipelines.review.plots import score_axis

    scores = np.asarray(scores, dtype=float)
    lo, hi = score_axis(scores, threshold, reference, labels)  # the PNG's view, as the initial one
    everything = np.concatenate([scores, [] if reference is None else np.asarray(reference, dtype=float)])
    everything = everything[np.isfinite(everything)]
    # one set of bins for every trace, 60 across the normal span (the view adds a fifth of margin: 72 across it), at
    # most MAX_BINS over all the scores
    low, high = float(everything.min()), float(everything.max())
    size = max((hi - lo) / 72, (high - low) / MAX_BINS)
    fig = go.Figure()
    style = {
        "opacity": 0.6,
        "histnorm": "probability density",
        "xbins": {"start": low, "end": high + size, "size": size},
    }
    if labels is not None:
        for value, name in [(0, "normal"), (1, "anomaly")]:
            fig.add_trace(go.Histogram(x=subset(scores[labels == value]), name=name, **style))
    else:
        fig.add_trace(go.Histogram(x=subset(scores), name="scored", **style))
    if reference is not None:
        fig.add_trace(go.Histogram(x=subset(reference), name="calibration split", **style))
    if np.isfinite(threshold):
        fig.add_vline(x=threshold, line_dash="dash", line_color="red", annotation_text=f"threshold {threshold:.4g}")
    fig.update_xaxes(range=[lo, hi])
    fig.update_layout(
        barmode="overlay",
        title=title + " (drag to zoom, double-click to see every score)",
        xaxis_title="anomaly score (higher = more anomalous)",
        yaxis_title="density",
    )
    return _html(fig)


def series_scores(
    values: np.ndarray,
    columns,
    scores: np.ndarray,
    threshold: float,
    times=None,
    labels=None,
    title: str = "Series and anomaly score",
) -> str:
    """The series (top) and its per-point score with the threshold (bottom) on one zoomable time axis, flagged
    points marked red and labelled points grey on the score."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scores = np.asarray(scores, dtype=float)
    x = np.arange(len(scores)) if times is None else np.asarray(times)
    keep = _thin(len(scores))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.04)
    for j, name in enumerate(list(columns)[:6]):
        fig.add_trace(
            go.Scattergl(x=x[keep], y=values[keep, j], mode="lines", name=str(name), line={"width": 1}), row=1, col=1
        )
    fig.add_trace(
        go.Scattergl(
            x=x[keep], y=scores[keep], mode="lines", name="anomaly score", line={"width": 1, "color": "black"}
        ),
        row=2,
        col=1,
    )
    flagged = np.flatnonzero(scores > threshold)[:MAX_INTERACTIVE_POINTS]
    fig.add_trace(
        go.Scattergl(
            x=x[flagged], y=scores[flagged], mode="markers", name="flagged", marker={"color": "red", "size": 4}
        ),
        row=2,
        col=1,
    )
    if labels is not None:
        marked = np.flatnonzero(np.asarray(labels) > 0)[:MAX_INTERACTIVE_POINTS]
        fig.add_trace(
            go.Scattergl(
                x=x[marked],
                y=scores[marked],
                mode="markers",
                name="labelled anomaly",
                marker={"color": "grey", "size": 7, "symbol": "circle-open"},
            ),
            row=2,
            col=1,
        )
    if np.isfinite(threshold):
        fig.add_hline(
            y=threshold, line_dash="dash", line_color="red", row=2, col=1, annotation_text=f"threshold {threshold:.4g}"
        )
    fig.update_yaxes(title_text="value", row=1, col=1)
    fig.update_yaxes(title_text="score", row=2, col=1)
    fig.update_layout(title=title + " (drag to zoom, double-click to reset)", height=650)
    return _html(fig)
