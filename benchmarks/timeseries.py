"""Time-series anomaly detection, measured the honest way: VUS-PR first, point-adjusted F1 only beside it.

Data: the two labelled series in ../shared/data/timeseries (UCR 135 InternalBleeding16: train on its normal training
part, score the whole test part; GutenTAG ecg-diff-count-3: train on train_normal, score test) and a seeded generated
set (``benchmarks/generated_series.py``: 24 series, 6 anomaly kinds on 3 base signals).

Every method sees the same windows (``--window`` points, stride 1) of the series standardised with the training
part's mean and spread, and every window score becomes a per-point score by the same rule (the mean over the windows
covering the point, :func:`anomaly_vae.detectors.windows.point_scores`):

- ``VAE (dense)``: ``VAESeriesDetector(window=...)`` with its defaults (the dense parts on the flattened window,
  three networks side by side, their scores averaged);
- ``VAE (dense, one network)``: the same with ``n_members=1`` (the default before session 9);
- ``VAE (conv)``: the same detector with ``architecture="conv"`` (1-D convolutions);
- ``tabular VAE``: ``VAEAnomalyDetector()`` on the flattened windows (one score per window);
- ``IsolationForest`` (200 trees), ``PCA`` (reconstruction error, components for 95% of the variance) and ``kNN``
  (mean distance to the 5 nearest training windows) on the flattened windows.

Measures (``anomaly_vae.evaluation.series_metrics``): VUS-PR (buffers 0 to twice the window), range-based PR-AUC (buffer = the
window), point-wise PR-AUC (average precision) and ROC-AUC, and point-adjusted F1 (beside, never alone).

    python benchmarks/timeseries.py                  # everything (KERAS_BACKEND=torch is fastest on CPU)
    python benchmarks/timeseries.py --n-generated 6 --methods "VAE (dense)" PCA
    python benchmarks/timeseries.py --resume         # after an interruption: only what results/timeseries.csv lacks
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.adbench import write_csv  # noqa: E402
from benchmarks.generated_series import KINDS, LabelledSeries, generated_set  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries"
RESULTS = Path(__file__).resolve().parent / "results" / "timeseries.csv"
WINDOW = 64
MEASURES = ("VUS-PR", "R-AUC-PR", "PR-AUC", "ROC-AUC", "PA-F1")


def labelled_series() -> list[LabelledSeries]:
    """The two labelled series of ../shared/data/timeseries (values columns: all but timestamp and is_anomaly)."""

    def read(name):
        frame = pd.read_csv(DATA / name)
        return frame.drop(columns=["timestamp", "is_anomaly"]).to_numpy(float), frame["is_anomaly"].to_numpy()

    out = []
    for name, train, test in [
        ("ucr135_InternalBleeding16", "ucr135_InternalBleeding16_train.csv", "ucr135_InternalBleeding16_test.csv"),
        ("ecg-diff-count-3", "ecg-diff-count-3_train_normal.csv", "ecg-diff-count-3_test.csv"),
    ]:
        (x_train, _), (x_test, labels) = read(train), read(test)
        out.append(LabelledSeries(name, "labelled", x_train, x_test, labels))
    return out


def _flat_windows(series: np.ndarray, window: int):
    from anomaly_vae.detectors.windows import sliding_windows

    windows, starts = sliding_windows(series, window, 1)
    return windows.reshape(len(windows), -1), starts


def _window_method(make_scorer):
    """A baseline that scores flattened windows; per-point scores by the mean over covering windows."""

    def run(train, test, window, seed):
        from anomaly_vae.detectors.windows import point_scores

        x_train, _ = _flat_windows(train, window)
        x_test, starts = _flat_windows(test, window)
        return point_scores(make_scorer(x_train, seed)(x_test), starts, window, len(test), "mean")

    return run


def _isolation_forest(x_train, seed):
    from sklearn.ensemble import IsolationForest

    model = IsolationForest(n_estimators=200, random_state=seed).fit(x_train)
    return lambda x: -model.score_samples(x)


def _pca(x_train, seed):
    from sklearn.decomposition import PCA

    model = PCA(0.95, random_state=seed).fit(x_train)
    return lambda x: ((x - model.inverse_transform(model.transform(x))) ** 2).sum(axis=1)


def _knn(x_train, seed):
    from sklearn.neighbors import NearestNeighbors

    model = NearestNeighbors(n_neighbors=5).fit(x_train)
    return lambda x: model.kneighbors(x)[0].mean(axis=1)


def _tabular_vae(x_train, seed):
    from anomaly_vae import VAEAnomalyDetector

    model = VAEAnomalyDetector(random_state=seed).fit(x_train)
    return model.anomaly_score


def _series_vae(**params):
    def run(train, test, window, seed):
        from anomaly_vae import VAESeriesDetector

        return VAESeriesDetector(window=window, random_state=seed, **params).fit(train).anomaly_score(test)

    return run


METHODS = {
    "VAE (dense)": _series_vae(architecture="dense"),
    "VAE (dense, one network)": _series_vae(architecture="dense", n_members=1),
    "VAE (conv)": _series_vae(architecture="conv"),
    "tabular VAE": _window_method(_tabular_vae),
    "IsolationForest": _window_method(_isolation_forest),
    "PCA": _window_method(_pca),
    "kNN": _window_method(_knn),
}


def measure(labels, scores, window: int) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from anomaly_vae.evaluation.series_metrics import point_adjusted_f1, range_pr_auc, vus_pr

    return {
        "VUS-PR": vus_pr(labels, scores, 2 * window),
        "R-AUC-PR": range_pr_auc(labels, scores, window),
        "PR-AUC": average_precision_score(labels, scores),
        "ROC-AUC": roc_auc_score(labels, scores),
        "PA-F1": point_adjusted_f1(labels, scores),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=int, default=WINDOW, help="window of every method, and of the measures")
    parser.add_argument(
        "--detector-window",
        default=None,
        help="'auto': every method uses the window VAESeriesDetector(window='auto') picks for the series (one "
        "period; 'auto:2' two periods); the measures keep --window, so figures compare across settings",
    )
    parser.add_argument("--n-generated", type=int, default=24)
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the generated set")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds of the methods (the spread over them)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--skip-labelled", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows already in --out and run only the (series, method) pairs it lacks",
    )
    args = parser.parse_args(argv)
    import keras

    from anomaly_vae.detectors.windows import auto_window

    seeds = [int(v) for v in args.seeds.split(",")]
    series = ([] if args.skip_labelled else labelled_series()) + generated_set(args.n_generated, args.data_seed)
    print(
        f"backend {keras.backend.backend()}, window {args.detector_window or args.window} (measures: {args.window}), "
        f"{len(series)} series, seeds {seeds}",
        flush=True,
    )
    rows = pd.read_csv(args.out).to_dict("records") if args.resume and args.out.exists() else []
    done = {(r["series"], r["method"], r.get("seed", 0)) for r in rows}
    for seed in seeds:
        for s in series:
            mean, std = s.train.mean(axis=0), s.train.std(axis=0) + 1e-12
            train, test = (s.train - mean) / std, (s.test - mean) / std
            if (args.detector_window or "").startswith("auto"):  # "auto", or "auto:K" for K periods
                window = auto_window(train, int(args.detector_window.partition(":")[2] or 1))
            else:
                window = int(args.detector_window or args.window)
            for method in args.methods:
                if (s.name, method, seed) in done:
                    continue
                start = time.perf_counter()
                scores = METHODS[method](train, test, window, seed)
                seconds = time.perf_counter() - start
                rows.append(
                    {
                        "series": s.name,
                        "kind": s.kind,
                        "method": method,
                        "seed": seed,
                        "window": window,
                        "seconds": seconds,
                        **measure(s.labels, scores, args.window),
                    }
                )
                print(
                    f"seed {seed} {s.name:32s} {method:16s} window {window:3d}  VUS-PR {rows[-1]['VUS-PR']:.3f}  "
                    f"PR-AUC {rows[-1]['PR-AUC']:.3f}  ({seconds:.0f} s)",
                    flush=True,
                )
            write_csv(pd.DataFrame(rows), args.out)
    report(pd.DataFrame(rows), args.methods)


def report(frame: pd.DataFrame, methods) -> None:
    """Per labelled series, per generated kind, and over the generated set (mean of each measure)."""

    def table(rows, index):
        out = rows.pivot_table(index=index, columns="method", values="VUS-PR", aggfunc="mean")
        return out[[m for m in methods if m in out.columns]]

    pd.set_option("display.width", 200)
    labelled = frame[frame.kind == "labelled"]
    if len(labelled):
        for measure_name in MEASURES:
            print(f"\nLabelled series, {measure_name}:")
            out = labelled.pivot_table(index="series", columns="method", values=measure_name)
            print(out[[m for m in methods if m in out.columns]].round(3).to_string())
    generated = frame[frame.kind != "labelled"]
    if len(generated):
        print("\nGenerated set, mean VUS-PR per anomaly kind:")
        print(table(generated, "kind").reindex([k for k in KINDS if k in set(generated.kind)]).round(3).to_string())
        print(f"\nGenerated set ({generated.series.nunique()} series), mean of each measure:")
        means = generated.groupby("method")[list(MEASURES) + ["seconds"]].mean()
        print(means.reindex([m for m in methods if m in means.index]).round(3).to_string())
        best = means["VUS-PR"].idxmax()
        print(f"\nBest mean VUS-PR over the generated set: {best} ({means['VUS-PR'].max():.3f})")
    if "seed" not in frame:
        frame = frame.assign(seed=0)
    per_seed = frame.assign(row=np.where(frame.kind == "labelled", frame.series, "generated set, mean"))
    per_seed = per_seed.groupby(["row", "method", "seed"])["VUS-PR"].mean()
    spread = per_seed.groupby(["row", "method"]).agg(["mean", "std", "count"]).fillna(0.0)
    seeds = int(spread["count"].max())
    print(f"\nVUS-PR, mean (sd) over {seeds} seed(s) of the methods:")
    cells = (spread["mean"].map("{:.3f}".format) + " (" + spread["std"].map("{:.3f}".format) + ")").unstack("method")
    cells = cells[[m for m in methods if m in cells.columns]]
    print(cells.to_string())
    if labelled.series.nunique() == 2 and generated.series.nunique() == 24:  # the protocol: the record the docs show
        from records import write_record

        windows = frame.groupby("series")["window"].first() if "window" in frame else None
        chosen = ""
        if windows is not None:
            low, high = int(windows.min()), int(windows.max())
            chosen = f"; windows of {low} points" if low == high else f"; windows of {low}-{high} points"
        write_record(
            "timeseries",
            cells.rename_axis("series"),
            f"Time series, VUS-PR per labelled series and the mean over the {generated.series.nunique()} generated "
            f"series: mean (sd) over {seeds} seed(s) of the methods{chosen}",
        )
    from anomaly_vae import VAESeriesDetector

    default = f"VAE ({VAESeriesDetector().architecture})"
    print(f"The detector's defaults are {default}.")
    if len(labelled):
        vus = labelled.pivot_table(index="series", columns="method", values="VUS-PR")
        if default in vus and {"PCA", "IsolationForest"} <= set(vus.columns):
            beats = (vus[default] > vus[["PCA", "IsolationForest"]].max(axis=1)).all()
            print(f"{default} beats PCA and IsolationForest in VUS-PR on both labelled series: {bool(beats)}")


if __name__ == "__main__":
    main()
