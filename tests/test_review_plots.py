"""The fit and score runs' review plots tell the truth at a glance: readable axes, the threshold, the target and
the epoch that was kept."""

import numpy as np

from pipelines.review import plots
from pipelines.review.calibration_report import calibration_plot, fold_rates


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_few_huge_anomaly_scores_do_not_squeeze_the_normal_scores_into_one_bar():
    rng = np.random.default_rng(0)
    normal, anomalies = rng.normal(10, 1, 2000), rng.uniform(1e3, 1e5, 50)
    scores = np.concatenate([normal, anomalies])
    labels = np.r_[np.zeros(2000, int), np.ones(50, int)]
    fig = plots.score_histogram(scores, 13.0, reference=rng.normal(10, 1, 300), labels=labels)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert hi < 30 and lo > 0  # the normal scores and the threshold, not the largest anomaly
    assert any("50 beyond the axis" in text for text in legend_texts(ax))
    assert any(text.startswith("threshold 13") for text in legend_texts(ax))
    plots.plt.close(fig)


def test_training_curves_mark_the_epoch_early_stopping_kept():
    history = {
        "loss": [3.0, 2.0, 2.5],
        "val_loss": [3.1, 2.1, 2.6],
        "reconstruction_loss": [2, 1, 1.5],
        "kl_loss": [1, 1, 1],
    }
    fig = plots.training_curves(history, kept_epoch=2)
    for ax in fig.axes:
        assert "epoch 2 kept" in legend_texts(ax)
        assert ax.lines[0].get_xdata()[0] == 1  # epochs counted from 1, as the kept epoch is
    plots.plt.close(fig)


def test_the_calibration_plot_always_shows_the_models_own_target():
    scores = np.random.default_rng(1).normal(size=290)  # folds of 58: too few to measure a 0.01 rate
    targets = [0.01, 0.05, 0.1]
    fig = calibration_plot(fold_rates(scores, "quantile", targets), targets, "quantile", 0.01, 58)
    ax = fig.axes[0]
    assert any(text.startswith("the model's target 0.01") for text in legend_texts(ax))
    assert any("roughly measured" in t.get_text() for t in ax.texts)
    plots.plt.close(fig)


def test_a_long_series_plot_shows_an_overview_lanes_and_zooms_on_the_stretches_that_matter():
    from pipelines.modalities.series.plots import MAX_DRAWN_POINTS, series_scores

    rng = np.random.default_rng(0)
    n = 10_000
    values = np.sin(np.arange(n) / 20)[:, None]
    scores = np.abs(rng.normal(size=n)) * 0.5
    scores[4000:4050] += 500.0  # a huge spike: the threshold must stay readable
    labels = np.zeros(n, int)
    labels[3990:4060] = 1
    labels[8000:8020] = 1  # labelled, scored low: the worst miss gets a zoom
    fig = series_scores(values, ["value"], scores, 3.0, None, labels, title="s.csv")
    overview, score_ax, lanes = fig.axes[:3]
    zooms = [ax for ax in fig.axes[3:] if "zoom" in ax.get_title()]
    assert max(len(line.get_xdata()) for line in overview.lines) <= MAX_DRAWN_POINTS
    low, high = score_ax.get_ylim()
    assert 3.0 < high < 50  # the threshold is on the axis, the spike clipped
    assert any("50 points above the axis" in t.get_text() for t in score_ax.texts)
    assert [t.get_text() for t in lanes.get_yticklabels()] == ["flagged", "labelled"]
    windows = [ax.get_title() for ax in zooms]
    assert len(windows) == 2 and "3,950" in windows[0] and "7,950" in windows[1]
    plots.plt.close(fig)
