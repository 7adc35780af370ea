"""``VAESeriesDetector``: a scikit-learn outlier detector for time series, a VAE over sliding windows (as Donut).

The series is cut into windows of ``window`` points every ``stride`` points (:mod:`anomaly_vae.detectors.windows`); the VAE
learns the windows of a normal stretch; each time point's score is then formed from the scores of the windows that
cover it (``point_rule``): their mean (the default) or their max. With ``point_rule="position"`` a window's score is
split over its positions instead, each position getting its own reconstruction NLL (summed over the channels) plus
an equal share of the window's KL term, so the shares sum to the window's score and a short anomaly shows on its own
points; a point's score is then the mean of its shares. Score rules with no per-position part (``kl``,
``recon_prob``, ``iwae``, ``worst``) share the window score equally over its positions.

Fitting splits the series in time: the first points train, the next ``validation_fraction`` choose the early-stopping
epoch, the last ``calibration_fraction`` set the threshold; each part is windowed on its own, so no window crosses
from one part into another. Thresholds and p-values are those of every detector, on the held-out points' scores.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions

from anomaly_vae.choices import SERIES_ARCHITECTURES, SERIES_POINT_RULES
from anomaly_vae.detectors.base_detector import MAX_MEMBERS, TRAINING_CONSTRAINTS, BaseVAEDetector
from anomaly_vae.detectors.windows import auto_window, point_scores, sliding_windows
from anomaly_vae.inputs.series_input import check_series, same_step

MAX_WINDOW = 100_000
"""The longest window (and stride), in time points."""

SERIES_AUTO_STEPS = 2_000
"""``epochs='auto'`` for series: about this many gradient steps."""

DEFAULT_SERIES_MEMBERS = 3
"""``n_members='auto'`` with the dense parts: three networks averaged ranked the generated series above PCA on every
seed of ``benchmarks/timeseries.py`` (one network did on two of three; ``benchmarks/RESULTS.md``, "Time series"),
for about the same seconds a fit (the dense network is small)."""

DEFAULT_SERIES_LATENT = 32
DEFAULT_SERIES_FILTERS = (32, 64)
"""Filters of the convolution stages when ``filters=None``: two stride-2 stages (64 points -> 16 steps of 64)."""

INPUT_CLIP = 1e6
"""Standardised values are clipped to +/- this many scales so extreme points score finite, not NaN."""

DECOMPOSABLE_RULES = ("elbo", "reconstruction")
"""Score rules whose window score splits into per-position reconstruction terms (plus a share of the KL term)."""


class VAESeriesDetector(BaseVAEDetector):
    """Unsupervised anomaly detector for a time series: a VAE over sliding windows, one score per time point.

    Fit it on a normal stretch of the series. ``score_samples``, ``decision_function``, ``predict``, ``anomaly_score``
    and ``p_values`` return one value per time point of the series they are given.

    Parameters
    ----------
    window : int or "auto", default=64
        Points per window. A pattern longer than a window cannot be learnt; a window of about one or two periods of
        the series is a good start. ``"auto"`` takes one dominant period of the training series (from its
        autocorrelation, :func:`~anomaly_vae.detectors.windows.auto_window`), kept between 16 and 256 points, or 64
        for a series without a clear period; the fitted ``window_`` says which. It is not the default: on the
        benchmark it ranked better on the generated series and worse on the labelled ECG (``benchmarks/RESULTS.md``).
    stride : int, default=1
        Points between the starts of two windows (at most ``window``), in training and scoring. 1 scores every point
        from ``window`` windows; larger strides are faster and coarser.
    point_rule : {"mean", "max", "position"}, default="mean"
        How a point's score is formed from the windows covering it: the mean or the max of their scores, or the mean
        of the point's own shares of their scores (see the module docstring). ``'position'`` localises a spike to its
        points, but ``'mean'`` ranked best under VUS-PR (``benchmarks/RESULTS.md``, "Time series").
    architecture : {"dense", "conv"}, default="dense"
        ``'dense'``: the tabular dense parts on the flattened window; ``'conv'``: a 1-D convolutional encoder and
        decoder (:mod:`anomaly_vae.network.conv_parts`). The dense parts ranked better and trained about four times faster on
        ``benchmarks/timeseries.py``.
    time_column : str or None, default=None
        For a DataFrame: the column holding the timestamps. They must be regular and strictly increasing (an error
        names the first unsorted, duplicated or irregular row; nothing is reordered). The other columns are the
        values. None: every column is a value, in the given order.
    latent_dim : int or None, default=None
        Size of the latent code. None picks 32: a noisy window needs more than a few numbers to be reconstructed.
    filters : tuple of int or None, default=None
        Filters of the stride-2 convolution stages (``'conv'``); None: (32, 64), a window of 64 down to 16 steps.
    hidden_units : tuple of int, default=(128, 64)
        Encoder layer widths of the ``'dense'`` architecture (the decoder mirrors them).
    n_members : int or "auto", default="auto"
        Networks trained side by side from different starting weights, in one model (``'dense'`` only); a window's
        score is their mean. Averaging steadies the series whose score moves most from one fit's seed to the next
        (``benchmarks/HISTORY.md``, "Time series"), for a wider network to train. ``'auto'``:
        ``DEFAULT_SERIES_MEMBERS`` (3) with the dense parts, 1 with ``'conv'``.
    dense_units : int, default=128
        Width of the dense layer between the convolutions and the latent code (``'conv'``).
    beta : float, default=0.1
        Weight of the KL term in the training loss.
    score_rule : {"elbo", "reconstruction", "kl", "recon_prob", "iwae", "worst", "worst_region"}, \
            default="reconstruction"
        What a window's score is. The reconstruction NLL alone: the KL term of a window at an unusual level is large
        without the window being anomalous, and with it the scores ranked far worse (``benchmarks/RESULTS.md``).
    likelihood, epochs, batch_size, learning_rate, validation_fraction, calibration_fraction, \
patience, contamination, threshold, target_fpr, n_samples, kl_warmup, corruption_noise, corruption_mask, \
data_parallel, precision, random_state, verbose
        As for :class:`~anomaly_vae.VAEAnomalyDetector`, with windows for rows and time points for the calibration
        rows (the held-out parts are the last stretches of the series, not random rows). ``epochs='auto'`` trains
        for about ``SERIES_AUTO_STEPS`` gradient steps.

    Attributes
    ----------
    window_ : int
        The window the detector was fitted with: ``window``, or the one ``"auto"`` chose.
    vae_ : anomaly_vae.VAE
        The trained Keras model, on windows ``(window_, channels)`` (flattened for ``'dense'``).
    scaler_ : sklearn.preprocessing.StandardScaler
        Per-channel standardisation fitted on the training points.
    n_features_in_ : int
        Channels (value columns) of the series.
    feature_names_in_ : ndarray of str
        The value columns' names, when fitted on a DataFrame.
    time_step_ : object or None
        The regular step between timestamps of the training series (None without a time column); a scored series must
        step alike.
    history_, n_epochs_, training_plan_, validation_scores_, calibration_scores_, threshold_, offset_, threshold_rule_,
    target_fpr_, tail_, latent_mixture_
        As for :class:`~anomaly_vae.VAEAnomalyDetector`, with one score per held-out time point.

    Notes
    -----
    The generative methods (``encode``, ``reconstruct``, ``denoise``, ``sample``, ``interpolate``) work on windows
    ``(n, window_, channels)`` in the series' units; a series given to ``encode`` or ``reconstruct`` is cut into its
    windows (every ``stride`` points) first.

    Examples
    --------
    >>> import numpy as np
    >>> from anomaly_vae import VAESeriesDetector
    >>> t = np.arange(2_000)
    >>> series = np.sin(2 * np.pi * t / 50) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    >>> det = VAESeriesDetector(window=32, epochs=2, random_state=0).fit(series[:1_500])
    >>> det.anomaly_score(series[1_500:]).shape
    (500,)
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        "window": [Interval(Integral, 2, MAX_WINDOW, closed="both"), StrOptions({"auto"})],
        "stride": [Interval(Integral, 1, MAX_WINDOW, closed="both")],
        "point_rule": [StrOptions(set(SERIES_POINT_RULES))],
        "architecture": [StrOptions(set(SERIES_ARCHITECTURES))],
        "time_column": [str, None],
        "filters": [tuple, list, None],
        "hidden_units": [tuple, list],
        "dense_units": [Interval(Integral, 1, None, closed="left")],
        "n_members": [Interval(Integral, 1, MAX_MEMBERS, closed="both"), StrOptions({"auto"})],
    }
    _auto_steps = SERIES_AUTO_STEPS

    def __init__(
        self,
        *,
        window=64,
        stride=1,
        point_rule="mean",
        architecture="dense",
        time_column=None,
        latent_dim=None,
        filters=None,
        hidden_units=(128, 64),
        n_members="auto",
        dense_units=128,
        beta=0.1,
        likelihood="gaussian",
        score_rule="reconstruction",
        epochs="auto",
        batch_size=64,
        learning_rate=1e-3,
        validation_fraction=0.1,
        calibration_fraction="auto",
        patience="auto",
        contamination="auto",
        threshold="quantile",
        target_fpr=0.01,
        n_samples=16,
        kl_warmup=0.0,
        corruption_noise=0.0,
        corruption_mask=0.0,
        data_parallel=False,
        precision="float32",
        random_state=None,
        verbose=0,
    ):
        self.window = window
        self.stride = stride
        self.point_rule = point_rule
        self.architecture = architecture
        self.time_column = time_column
        self.latent_dim = latent_dim
        self.filters = filters
        self.hidden_units = hidden_units
        self.n_members = n_members
        self.dense_units = dense_units
        self.beta = beta
        self.likelihood = likelihood
        self.score_rule = score_rule
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.calibration_fraction = calibration_fraction
        self.patience = patience
        self.contamination = contamination
        self.threshold = threshold
        self.target_fpr = target_fpr
        self.n_samples = n_samples
        self.kl_warmup = kl_warmup
        self.corruption_noise = corruption_noise
        self.corruption_mask = corruption_mask
        self.data_parallel = data_parallel
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ the series in
    def _series(self, X, reset: bool):
        """``X`` checked as a series (and, when fitting, its channels, names and time step recorded)."""
        series = check_series(X, self.time_column)
        if reset:
            self.n_features_in_ = series.values.shape[1]
            if _from_frame(X):
                self.feature_names_in_ = np.asarray(series.columns, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self.time_step_ = series.step
            return series
        if series.values.shape[1] != self.n_features_in_:
            raise ValueError(
                f"The series has {series.values.shape[1]} value column(s), but the detector was fitted on "
                f"{self.n_features_in_}."
            )
        names = getattr(self, "feature_names_in_", None)
        if names is not None and _from_frame(X) and list(series.columns) != list(names):
            raise ValueError(
                f"The series' value columns are {list(series.columns)}, but the detector was fitted on {list(names)}."
            )
        if self.time_step_ is not None and series.step is not None and not same_step(series.step, self.time_step_):
            raise ValueError(
                f"The series steps by {series.step}, but the detector was fitted on steps of "
                f"{self.time_step_}: resample it to the training step."
            )
        return series

    # ------------------------------------------------------------------ hooks of BaseVAEDetector
    def _check_input(self, X, reset: bool) -> np.ndarray:
        if reset:
            values = self._series(X, reset=True).values
            self.window_ = auto_window(values) if self.window == "auto" else int(self.window)
            return self._fit_windows(values)
        if np.ndim(X) == 3:  # windows, for the generative methods
            windows = np.asarray(X, dtype=np.float64)
            if windows.shape[1:] != (self.window_, self.n_features_in_):
                raise ValueError(
                    f"Windows must be (n, {self.window_}, {self.n_features_in_}); got shape {windows.shape}."
                )
            if not np.isfinite(windows).all():
                raise ValueError(f"Window {int(np.argmin(np.isfinite(windows).all(axis=(1, 2))))} holds NaN or inf.")
            return windows
        return sliding_windows(self._series(X, reset=False).values, self.window_, self.stride)[0]

    def _fit_windows(self, values: np.ndarray) -> np.ndarray:
        """The windows of the training, validation and calibration stretches (consecutive parts of the series, each
        windowed on its own); their start points and parts are kept for :meth:`_split` and :meth:`_fit_scores`."""
        if self.stride > self.window_:
            raise ValueError(
                f"stride ({self.stride}) must not exceed window ({self.window_}): the points between "
                "windows would get no score."
            )
        n = len(values)
        n_val, n_cal = self._held_out_counts(n)
        if n_cal and n_cal < self.window_:  # a held-out stretch shorter than a window holds none: give it up
            n_cal = 0
        if n_val and n_val < self.window_:
            n_val = 0
        n_train = n - n_val - n_cal
        if n_train < self.window_:
            raise ValueError(
                f"The series has {n} point(s): after holding out {n_val + n_cal} for validation and "
                f"calibration, fewer than one window of {self.window_} is left to train on. Use a longer "
                "series, a shorter window or smaller validation_fraction / calibration_fraction."
            )
        bounds = np.cumsum([0, n_train, n_val, n_cal])
        windows, starts, parts = [], [], []
        for part, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            if hi > lo:
                w, s = sliding_windows(values[lo:hi], self.window_, self.stride)
                windows.append(w)
                starts.append(s + lo)
                parts.append(np.full(len(s), part))
        self._fit_layout = (np.concatenate(starts), np.concatenate(parts), n)
        return np.concatenate(windows).astype(np.float64)

    def _split(self, X, rng):
        _, parts, _ = self._fit_layout
        train = np.flatnonzero(parts == 0)
        return train[rng.permutation(len(train))], np.flatnonzero(parts == 1), np.flatnonzero(parts == 2)

    def _fit_scores(self, X, idx):
        """One score per time point the windows ``X[idx]`` cover (in time order)."""
        idx = np.sort(idx)
        starts = self._fit_layout[0][idx]
        first, span = starts.min(), starts.max() + self.window_ - starts.min()  # the parts are adjacent: no hole
        return self._points(self._transform(X[idx]), starts - first, span)

    def _fit_transform(self, X_train: np.ndarray) -> None:
        self.scaler_ = StandardScaler().fit(X_train.reshape(-1, X_train.shape[-1]))

    def _transform(self, X: np.ndarray) -> np.ndarray:
        n, window, channels = X.shape
        out = self.scaler_.transform(X.reshape(-1, channels)).reshape(n, window, channels)
        out = np.clip(out, -INPUT_CLIP, INPUT_CLIP).astype(np.float32)
        return out.reshape(n, -1) if self.architecture == "dense" else out

    def _n_members(self) -> int:
        """``n_members``, with ``'auto'`` resolved for the architecture."""
        if self.n_members == "auto":
            return DEFAULT_SERIES_MEMBERS if self.architecture == "dense" else 1
        return int(self.n_members)

    def _build_vae(self, event_shape, n_train: int, seed: int):
        from anomaly_vae.network.likelihoods import LIKELIHOODS
        from anomaly_vae.network.size_limits import check_network_size, check_widths, conv_size, dense_size
        from anomaly_vae.network.vae import VAE

        latent = self.latent_dim if self.latent_dim is not None else DEFAULT_SERIES_LATENT
        common = dict(
            latent_dim=latent,
            likelihood=self.likelihood,
            beta=self.beta,
            n_score_samples=self.n_samples,
            corruption_noise=self.corruption_noise,
            corruption_mask=self.corruption_mask,
            seed=seed,
            dtype=self.precision,
        )
        batch = min(self.batch_size, n_train)
        members = self._n_members()
        if self.architecture == "dense":
            n = int(np.prod(event_shape))
            check_widths(hidden_units=self.hidden_units, latent_dim=latent)
            check_network_size(
                dense_size(n, self.hidden_units, latent, members, heads=len(LIKELIHOODS[self.likelihood].row_heads)),
                batch,
                f"windows of {n} values with hidden_units {tuple(self.hidden_units)} and n_members {members}",
            )
            return VAE(n_features=n, hidden_units=tuple(self.hidden_units), n_members=members, **common)
        if members != 1:
            raise ValueError(
                f"n_members={members} needs architecture='dense': the convolutional parts train one network."
            )
        from anomaly_vae.network.conv_parts import ConvDecoder, ConvEncoder, describe_conv

        filters = DEFAULT_SERIES_FILTERS if self.filters is None else tuple(self.filters)
        if not all(isinstance(f, Integral) and int(f) >= 1 for f in filters):
            raise ValueError(f"filters must be a sequence of positive integers, got {self.filters!r}.")
        check_network_size(
            conv_size(
                event_shape, filters, self.dense_units, latent, heads=len(LIKELIHOODS[self.likelihood].row_heads)
            ),
            batch,
            describe_conv(event_shape, filters, self.dense_units),
        )
        parts = dict(latent_dim=latent, filters=filters, dense_units=self.dense_units, seed=seed, dtype=self.precision)
        encoder = ConvEncoder(tuple(event_shape), name="encoder", **parts)
        decoder = ConvDecoder(
            tuple(event_shape),
            heads=LIKELIHOODS[self.likelihood].row_heads,
            name="decoder",
            seed_start=encoder.seeds_used,
            **parts,
        )
        return VAE(encoder=encoder, decoder=decoder, **common)

    # ------------------------------------------------------------------ one score per time point
    def anomaly_score(self, X) -> np.ndarray:
        """One score per time point of the series ``X`` ``(T,)``; higher means more anomalous (module docstring)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        values = self._series(X, reset=False).values
        windows, starts = sliding_windows(values, self.window_, self.stride)
        return self._points(self._transform(windows), starts, len(values))

    def _points(self, Xs: np.ndarray, starts: np.ndarray, n_points: int) -> np.ndarray:
        """Per-point scores of the ``n_points`` points that prepared windows ``Xs`` starting at ``starts`` cover."""
        if self.point_rule == "position":
            return point_scores(self._position_scores(Xs), starts, self.window_, n_points, "mean")
        return point_scores(self._predict(Xs), starts, self.window_, n_points, self.point_rule)

    def _position_scores(self, Xs: np.ndarray) -> np.ndarray:
        """Each window's score split over its positions ``(n_windows, window)``; the rows sum to the window scores."""
        if self.score_rule not in DECOMPOSABLE_RULES:
            return np.repeat(self._predict(Xs)[:, None] / self.window_, self.window_, axis=1)
        scores, features = self._predict(Xs, features=True)
        per_position = features.reshape(len(Xs), self.window_, -1).sum(axis=-1)
        return per_position + (scores - per_position.sum(axis=1))[:, None] / self.window_

    # ------------------------------------------------------------------ hooks of GenerativeMixin
    def _from_network(self, x: np.ndarray, like=None) -> np.ndarray:
        """Windows ``(n, window, channels)`` in the series' units."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), self.window_, self.n_features_in_)
        return self.scaler_.inverse_transform(x.reshape(-1, self.n_features_in_)).reshape(x.shape)

    def _one_example(self, a) -> np.ndarray:
        window = np.asarray(a, dtype=np.float64)
        if window.ndim == 1 and self.n_features_in_ == 1:
            window = window[:, None]
        if window.shape != (self.window_, self.n_features_in_):
            raise ValueError(
                f"interpolate takes one window of shape ({self.window_}, {self.n_features_in_}); got "
                f"shape {window.shape}."
            )
        return window[None]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _from_frame(X) -> bool:
    import pandas as pd

    return isinstance(X, (pd.DataFrame, pd.Series))
