"""What the fit run says and logs about the threshold: how many calibration rows set it, by which rule, how
well it holds on calibration folds, and the extreme-value tail behind a ``pot`` threshold."""

from __future__ import annotations

import warnings

import numpy as np

from pipelines.review.plots import Figure, plt

FOLDS = 5
TARGETS = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2)
"""False-positive targets of the calibration plot (those a held-out fold is too small to measure are left out)."""


def describe(detector, what: str = "rows", source: str | None = None) -> str:
    """One line: the calibration set (held out by the fit, or the normal ``what`` of ``source``), the rule,
    the target and the threshold."""
    n = len(detector.calibration_scores_)
    threshold = (
        f"{detector.threshold_:.6g}"
        if np.isfinite(detector.threshold_)
        else "infinite (no row can reach a p-value that small)"
    )
    if source:
        where = f"normal {what} of {source!r}"
    elif detector._calibration_share() > 0:
        where = f"held-out normal {what} (they neither trained the network nor chose its epoch)"
    else:
        where = (
            f"validation {what} (they also chose the early-stopping epoch; --calibration-fraction holds out "
            f"{what} that did not)"
        )
    from anomaly_vae.decisions.threshold import rule_used

    used = rule_used(detector.threshold_rule_, detector.target_fpr_, detector.tail_)
    rule = (
        f"the {used} rule"
        if used == detector.threshold_rule_
        else f"the {used} rule (the {detector.threshold_rule_} rule fell back to it: "
        + ("no tail could be fitted)" if detector.tail_ is None else "the target is not beyond its tail)")
    )
    return (
        f"Calibration: {n} {where}; "
        f"threshold {threshold} by {rule} at target false-positive rate {detector.target_fpr_:g}"
    )


def fold_rates(scores: np.ndarray, rule: str, targets, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Realised false-positive rate ``(folds, len(targets))`` of ``rule`` set on all folds but one and measured
    on the one left out: how well the threshold holds on normal rows it was not set on."""
    from anomaly_vae.decisions.threshold import fit_threshold

    parts = np.array_split(np.random.default_rng(seed).permutation(scores), folds)
    rates = np.zeros((folds, len(targets)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a too-small fold's fallback is part of what the plot shows
        for k, held in enumerate(parts):
            rest = np.concatenate([p for j, p in enumerate(parts) if j != k])
            for t, target in enumerate(targets):
                rates[k, t] = np.mean(held > fit_threshold(rest, rule, target).value)
    return rates


def metrics(detector) -> dict[str, float]:
    out = {"n_calibration_rows": float(len(detector.calibration_scores_)), "target_fpr": detector.target_fpr_}
    if np.isfinite(detector.threshold_):
        out["threshold"] = detector.threshold_
    if detector.tail_ is not None:
        tail = detector.tail_
        out.update(
            tail_start=tail.start, tail_shape=tail.shape, tail_scale=tail.scale, tail_excesses=float(tail.n_excesses)
        )
    return out


def figures(detector, what: str = "rows") -> dict[str, Figure]:
    """``calibration.png`` (target against realised rate on calibration folds of ``what``), and ``tail_fit.png``
    for a ``pot`` threshold with a tail fit."""
    scores = np.asarray(detector.calibration_scores_)
    out = {}
    fold = len(scores) // FOLDS
    measurable = [t for t in sorted({*TARGETS, detector.target_fpr_}) if fold and t * fold >= 1]
    if measurable:  # the model's own target is always shown, even where a fold is too small to measure it
        targets = sorted({*measurable, detector.target_fpr_})
        out["calibration.png"] = calibration_plot(
            fold_rates(scores, detector.threshold_rule_, targets),
            targets,
            detector.threshold_rule_,
            detector.target_fpr_,
            fold,
            what,
        )
    if detector.tail_ is not None:
        out["tail_fit.png"] = tail_plot(scores, detector.tail_, detector.threshold_, detector.target_fpr_)
    return out


def calibration_plot(rates: np.ndarray, targets, rule: str, target: float, fold: int, what: str = "rows") -> Figure:
    fig, ax = plt.subplots(figsize=(5.8, 5))
    floor = 1.0 / fold
    for row in rates:
        ax.scatter(targets, np.maximum(row, floor / 2), s=10, color="tab:blue", alpha=0.35)
    mean = rates.mean(axis=0)
    drawn = np.where(mean > 0, mean, floor / 2)  # only a rate of 0 is drawn at the floor (a log axis has no 0)
    ax.plot(targets, drawn, "o-", color="tab:blue", label=f"{rule}: mean over folds")
    lo, hi = min(targets) / 1.5, max(targets) * 1.5
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="realised = target")
    own = list(targets).index(target)
    ax.plot(
        [target],
        [drawn[own]],
        "*",
        ms=14,
        color="red",
        zorder=5,
        label=f"the model's target {target:g}: realised {mean[own]:.3g}",
    )
    if target * fold < 1:
        ax.text(
            0.02,
            0.93,
            f"a fold of {fold} cannot resolve rates below {1 / fold:.2g}:\nthe model's target is only roughly measured",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            color="red",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="target false-positive rate",
        ylabel="realised rate on the held-out fold",
        title=f"Threshold on calibration folds ({FOLDS} folds of {fold} {what})",
    )
    ax.text(0.02, 0.98, f"rates of 0 drawn at {floor / 2:.2g}", transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def tail_plot(scores: np.ndarray, tail, threshold: float, target: float) -> Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ordered = np.sort(scores)
    survival = 1.0 - np.arange(1, len(ordered) + 1) / (len(ordered) + 1)
    keep = ordered >= np.quantile(ordered, 0.5)
    ax.plot(ordered[keep], survival[keep], ".", ms=3, color="k", label="calibration scores (empirical)")
    x = np.linspace(tail.start, max(threshold, ordered[-1]) * 1.0 + 1e-12, 200)
    ax.plot(
        x,
        tail.survival(x),
        color="tab:orange",
        label=f"generalised Pareto: shape {tail.shape:.3f}, scale {tail.scale:.3g} ({tail.n_excesses} excesses)",
    )
    ax.axvline(tail.start, color="grey", linestyle=":", lw=1, label=f"tail start {tail.start:.4g}")
    if np.isfinite(threshold):
        ax.axvline(threshold, color="red", linestyle="--", lw=1, label=f"threshold {threshold:.4g}")
    ax.axhline(target, color="red", lw=0.6, alpha=0.5)
    ax.set(yscale="log", xlabel="anomaly score", ylabel="P(score > x)", title="Extreme-value tail (POT)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
