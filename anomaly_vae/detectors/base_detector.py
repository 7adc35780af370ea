"""``BaseVAEDetector``: what every VAE detector shares (as PyOD's ``BaseDeepLearningDetector``).

The base owns fitting (validation split, seeding, the training schedule, compiling, callbacks, early
stopping), scoring in fixed batches, the threshold and pickling. A detector for one modality (tables in
:mod:`anomaly_vae.detectors.table_detector`, images in :mod:`anomaly_vae.detectors.image_detector`) supplies only its hooks:

- ``_check_input(X, reset)``: the user's input checked, as a float array ``(n, *event_shape)``;
- ``_fit_transform(X_train)``: fit any input transform on the training examples (a scaler for tables);
- ``_transform(X)``: examples as the network's float32 input;
- ``_build_vae(event_shape, n_train, seed)``: the parts composed into a :class:`~anomaly_vae.network.vae.VAE`;
- ``_split(X, rng)`` and ``_fit_scores(X, idx)``: the training / validation / calibration split and the held-out
  scores the threshold is fitted on (random rows and one score per example unless a detector says otherwise);
- ``_from_network(x, like)`` and ``_one_example(a)``: generated examples in the user's units, and one example
  as a batch (:mod:`anomaly_vae.generation.generative`).

Each detector lists its own parameters in ``__init__`` (scikit-learn reads them from the signature);
those named in :data:`TRAINING_CONSTRAINTS` are the ones the base reads.
"""

from __future__ import annotations

import random
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from anomaly_vae.choices import LIKELIHOODS, PRECISIONS, SCORES, THRESHOLD_RULES
from anomaly_vae.decisions.threshold import fit_threshold
from anomaly_vae.generation.generative import GenerativeMixin
from anomaly_vae.inputs.validation import check_finite_scores

AUTO_STEPS = 5_000
AUTO_MIN_PASSES = 100
"""``epochs='auto'``: about ``AUTO_STEPS`` gradient steps, and at least ``AUTO_MIN_PASSES``
passes over the training rows (a detector may set its own ``_auto_steps``)."""

AUTO_MIN_STEPS_PER_EPOCH = 64
"""``epochs='auto'`` repeats a small training set so one epoch is at least this many steps:
Keras' per-epoch work (validation, callbacks) then stays small next to the training."""

STEPS_PER_EXECUTION = 2 * AUTO_MIN_STEPS_PER_EPOCH
"""Training steps per compiled call (JAX and TensorFlow), capped at the steps in one epoch: the
epoch of a repeated small training set (at most twice the minimum) is then one call, compiled once."""

AUTO_CALIBRATION_FRACTION = 0.1
"""Share of the examples ``calibration_fraction='auto'`` holds out with the conformal and POT rules."""

MAX_SCORE_SAMPLES = 10_000
"""The most latent draws per example when scoring (``n_samples``): each one is a pass of the decoder."""

MAX_MEMBERS = 64
"""The most ensemble members (``n_members``, tables and series): each is a whole network."""

MAX_BATCH_SIZE = 1_000_000
"""The largest training batch (``batch_size``); the network's size bounds it further (:mod:`anomaly_vae.network.size_limits`)."""

TRAINING_CONSTRAINTS: dict = {
    "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
    "beta": [Interval(Real, 0, None, closed="left")],
    "likelihood": [StrOptions(set(LIKELIHOODS))],
    "score_rule": [StrOptions(set(SCORES))],
    "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "batch_size": [Interval(Integral, 1, MAX_BATCH_SIZE, closed="both")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "patience": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
    "calibration_fraction": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
    "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
    "threshold": [StrOptions(set(THRESHOLD_RULES))],
    "target_fpr": [Interval(Real, 0, 1, closed="neither")],
    "n_samples": [Interval(Integral, 1, MAX_SCORE_SAMPLES, closed="both")],
    "kl_warmup": [Interval(Real, 0, 1, closed="left")],
    "corruption_noise": [Interval(Real, 0, None, closed="left")],
    "corruption_mask": [Interval(Real, 0, 1, closed="left")],
    "data_parallel": ["boolean"],
    "precision": [StrOptions(set(PRECISIONS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
"""The parameters the base's training and threshold machinery reads, with scikit-learn constraints; every
detector has them and adds its own."""


def _label_values(y: np.ndarray) -> np.ndarray:
    """Labels as floats for the 0/1 check: numbers and booleans as they are, text that reads as a number as that
    number, anything else NaN."""
    import pandas as pd

    return pd.to_numeric(pd.Series(y, dtype=object), errors="coerce").to_numpy(dtype=np.float64)


class BaseVAEDetector(GenerativeMixin, OutlierMixin, BaseEstimator):
    """Shared fit / score / threshold machinery of the VAE detectors (not used directly); the generative
    methods (``encode``, ``decode``, ``reconstruct``, ``sample``, ``interpolate``) come from
    :class:`~anomaly_vae.generation.generative.GenerativeMixin`."""

    _auto_steps = AUTO_STEPS
    _steps_per_execution = STEPS_PER_EXECUTION
    _score_batch_size: int | None = None  # None: anomaly_vae.detectors.scoring.score_batch_size for the input

    # ------------------------------------------------------------------ hooks
    def _check_input(self, X, reset: bool) -> np.ndarray:
        raise NotImplementedError

    def _fit_transform(self, X_train: np.ndarray) -> None:
        """Fit any input transform on the training examples (nothing by default)."""

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)

    def _build_vae(self, event_shape: tuple[int, ...], n_train: int, seed: int):
        raise NotImplementedError

    def _split(self, X: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the training, validation and calibration examples: a random split by default (the windows of
        a series split in time instead)."""
        n = len(X)
        order = rng.permutation(n)
        n_val, n_cal = self._held_out_counts(n)
        return order[n_val + n_cal :], order[:n_val], order[n_val : n_val + n_cal]

    def _fit_scores(self, X: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The anomaly scores of the checked examples ``X[idx]`` as the threshold sees them (one per example by
        default; one per time point of the windows' span for a series)."""
        return self._predict(self._transform(X[idx]))

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, callbacks=None):
        """Train on normal examples ``X`` and set the threshold.

        Parameters
        ----------
        X : array-like
            Normal examples (see the detector's class docstring for the shape); at least 2.
        y : array-like of shape (n,), optional
            Ignored, as by scikit-learn's outlier detectors, unless the detector has ``use_labels=True``: then 1
            marks a known anomaly (trained to score high, never used for validation or calibration) and 0 a
            normal example.
        callbacks : list of keras.callbacks.Callback, optional
            Extra Keras callbacks (for example MLflow logging), run after early stopping. With a
            ``keras.callbacks.BackupAndRestore``, a fit that was stopped resumes from its last epoch and ends with the
            model an uninterrupted fit gives (on JAX and torch; :mod:`anomaly_vae.network.resume`).

        Returns
        -------
        self
        """
        import keras

        from anomaly_vae.network.callbacks import EpochProgressBar, FailOnNonFiniteLoss, KLWarmUp, LogELBO
        from anomaly_vae.network.resume import ResumeState
        from anomaly_vae.network.steps import set_random_seed
        from anomaly_vae.persistence.model_files import compile_vae

        self._validate_params()
        distribution = self._distribution()  # fails at once on a backend without keras.distribution
        X = self._check_input(X, reset=True)
        X, X_known = self._known_anomalies(X, y)
        n = len(X)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_idx, val_idx, cal_idx = self._split(X, rng)
        n_val, n_cal = len(val_idx), len(cal_idx)
        self._fit_transform(X[train_idx])
        X_train = self._transform(X[train_idx])
        X_codes = X_train  # the training examples whose codes fit the latent mixture (before any top-up)
        X_val = self._transform(X[val_idx]) if n_val else None
        event_shape = X_train.shape[1:]

        py_state, np_state = random.getstate(), np.random.get_state()
        previous_distribution = keras.distribution.distribution()
        set_random_seed(seed)
        try:
            if distribution is not None:
                keras.distribution.set_distribution(distribution)
            vae = self._build_vae(event_shape, len(train_idx), seed)
            vae.build((None, *event_shape))
            n_train = len(X_train)
            epoch_rows = self._epoch_rows(n_train)
            batch_size = min(self.batch_size, epoch_rows)
            if distribution is not None:  # every batch must split evenly over the devices
                n_dev = len(distribution.device_mesh.devices.flat)
                batch_size = -(-batch_size // n_dev) * n_dev
                epoch_rows = -(-epoch_rows // batch_size) * batch_size
                if X_val is not None and len(X_val) % n_dev:
                    X_val = X_val[: len(X_val) - len(X_val) % n_dev] if len(X_val) >= n_dev else None
            if epoch_rows > n_train:  # rows are in random order, so the top-up is a random subset
                X_train = np.resize(X_train, (epoch_rows, *event_shape))
            y_train = None
            if X_known is not None:
                from anomaly_vae.network.known_anomalies import with_known_anomalies

                X_train, y_train = with_known_anomalies(  # whole batches where the rows above are whole batches
                    X_train,
                    self._transform(X_known),
                    batch_size,
                    whole_batches=epoch_rows > n_train or distribution is not None,
                )
            steps_per_epoch = -(-len(X_train) // batch_size)
            compile_vae(vae, self.learning_rate, steps_per_execution=min(self._steps_per_execution, steps_per_epoch))
            epochs, patience = self._schedule(steps_per_epoch, passes_per_epoch=epoch_rows / n_train)
            monitor = "val_loss" if X_val is not None else "loss"
            cbs = [FailOnNonFiniteLoss(), LogELBO()]
            warmup = int(round(self.kl_warmup * epochs))
            if warmup:
                cbs.append(KLWarmUp(warmup))
            stopper = None
            if patience is not None:
                stopper = keras.callbacks.EarlyStopping(
                    monitor=monitor, mode="min", patience=patience, restore_best_weights=True, start_from_epoch=warmup
                )
                cbs.append(stopper)
            backup = next((c for c in callbacks or [] if isinstance(c, keras.callbacks.BackupAndRestore)), None)
            if backup is not None:  # what Keras' checkpoint lacks for a resumed fit to equal an uninterrupted one
                cbs.append(ResumeState(backup.backup_dir, stopper))
            cbs += list(callbacks or [])
            if int(self.verbose) == 1:
                cbs.append(EpochProgressBar(epochs))
            history = vae.fit(
                X_train,
                y_train,
                validation_data=(X_val,) if X_val is not None else None,
                epochs=epochs,
                batch_size=batch_size,
                shuffle=True,
                callbacks=cbs,
                verbose=2 if int(self.verbose) >= 2 else 0,
            )
        finally:
            if distribution is not None:
                keras.distribution.set_distribution(previous_distribution)
            random.setstate(py_state)
            np.random.set_state(np_state)

        self.vae_ = vae
        self._scorers = {}
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = history.epoch[-1] + 1 if history.epoch else 0  # a resumed fit's history starts later
        kept = stopper.best_epoch + 1 if stopper is not None and stopper.best_weights is not None else self.n_epochs_
        self.training_plan_ = {
            "latent_dim": int(vae.latent_dim),
            "hidden_units": list(getattr(vae, "hidden_units", ())),
            "n_members": int(vae.n_members),
            "n_weights": int(sum(int(np.prod(w.shape)) for w in vae.trainable_weights)),
            "n_train": len(train_idx),
            "n_validation": n_val,
            "n_calibration": n_cal,
            "n_known_anomalies": 0 if X_known is None else len(X_known),
            "batch_size": batch_size,
            "steps_per_epoch": steps_per_epoch,
            "epochs": epochs,
            "patience": patience,
            "kl_warmup_epochs": warmup,
            "epochs_run": self.n_epochs_,
            "epoch_kept": kept,
            "monitor": monitor,
        }
        self.validation_scores_ = self._fit_scores(X, val_idx if n_val else train_idx)
        self.calibration_scores_ = self._fit_scores(X, cal_idx) if n_cal else self.validation_scores_
        self._defer_latent_mixture(X_codes, seed)  # fitted when first read: sampling, saving
        if self.contamination == "auto":
            self._apply_threshold(fit_threshold(self.calibration_scores_, self.threshold, self.target_fpr))
        else:  # scikit-learn's convention (IsolationForest): that share of the training examples is flagged
            train_scores = self._fit_scores(X, np.arange(n))
            self._apply_threshold(fit_threshold(train_scores, "quantile", self.contamination))
        return self

    def _known_anomalies(self, X: np.ndarray, y) -> tuple[np.ndarray, np.ndarray | None]:
        """The normal examples of ``X`` and the known anomalies (None unless ``use_labels``), from labels ``y``
        checked: one per example, 0 or 1, at least one anomaly and two normal examples."""
        if not getattr(self, "use_labels", False):
            return X, None
        from sklearn.utils import column_or_1d

        if y is None:
            raise ValueError("use_labels=True needs y in fit(X, y): 1 for a known anomaly, 0 for a normal example.")
        y = np.asarray(column_or_1d(y, warn=True))
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} examples in X.")
        values = _label_values(y)
        bad = np.flatnonzero(~np.isin(values, (0, 1)))
        if len(bad):
            raise ValueError(
                f"y must hold 0 (normal) and 1 (known anomaly); example {int(bad[0])} has {y.tolist()[bad[0]]!r}."
            )
        anomalous = values == 1
        if not anomalous.any():
            raise ValueError("use_labels=True but y marks no example as a known anomaly (no 1).")
        if (~anomalous).sum() < 2:
            raise ValueError(f"Need at least 2 normal examples (y == 0); y gives {int((~anomalous).sum())}.")
        return X[~anomalous], X[anomalous]

    def set_threshold(self, X_normal=None, *, scores=None, rule: str | None = None, target_fpr: float | None = None):
        """Re-fit the threshold on fresh normal examples, without retraining.

        Give the examples ``X_normal``, or their anomaly ``scores``. They become the calibration set
        (``calibration_scores_``) of the threshold and of :meth:`p_values`. ``rule`` (``"quantile"``,
        ``"conformal"`` or ``"pot"``) and ``target_fpr`` default to the ``threshold`` and ``target_fpr``
        parameters; the ones used are kept as ``threshold_rule_`` and ``target_fpr_``.
        """
        check_is_fitted(self)
        if (X_normal is None) == (scores is None):
            raise ValueError("Pass exactly one of X_normal or scores.")
        scores = self.anomaly_score(X_normal) if scores is None else np.asarray(scores, dtype=np.float64).ravel()
        fitted = fit_threshold(
            scores, self.threshold if rule is None else rule, self.target_fpr if target_fpr is None else target_fpr
        )
        self.calibration_scores_ = scores
        self._apply_threshold(fitted)
        return self

    def _apply_threshold(self, fitted) -> None:
        """Keep a fitted :class:`~anomaly_vae.decisions.threshold.Threshold` as the detector's threshold attributes."""
        self.threshold_ = fitted.value
        self.offset_ = -self.threshold_
        self.threshold_rule_ = fitted.rule
        self.target_fpr_ = fitted.target_fpr
        self.tail_ = fitted.tail

    # ------------------------------------------------------------ calibrated decisions
    def p_values(self, X) -> np.ndarray:
        """Conformal p-value of each example against ``calibration_scores_``: the share of calibration
        examples (counting the example itself) scoring at least as high. Small means unlike the normal data.

        If the example is normal and exchangeable with the calibration examples (drawn the same way, from the
        same distribution), ``P(p <= a) <= a`` at every level ``a``; see :mod:`anomaly_vae.decisions.p_values`.
        """
        from anomaly_vae.decisions.p_values import conformal_p_values

        return conformal_p_values(self.calibration_scores_, self.anomaly_score(X))

    def predict_fdr(self, X, fdr: float = 0.05) -> np.ndarray:
        """-1 for the examples Benjamini-Hochberg flags at false-discovery rate ``fdr`` on their
        :meth:`p_values`, +1 for the others: on average at most ``fdr`` of the flagged examples are normal.
        The decision for one example depends on the others passed with it (score a whole batch at once)."""
        from anomaly_vae.decisions.p_values import bh_select

        return np.where(bh_select(self.p_values(X), fdr), -1, 1)

    # -------------------------------------------------------------- scoring
    def anomaly_score(self, X) -> np.ndarray:
        """Negative ELBO (or the chosen ``score_rule``) per example; higher means more anomalous."""
        return self._predict(self._prepare(X))

    def score_samples(self, X) -> np.ndarray:
        """Opposite of :meth:`anomaly_score` (scikit-learn's convention: higher = more normal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for predicted anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def _prepare(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._transform(self._check_input(X, reset=False))

    def _latent_means(self, Xs: np.ndarray) -> np.ndarray:
        """Posterior means of prepared examples, from the first ensemble member (members' latent spaces
        are not aligned with each other)."""
        from keras import ops

        from anomaly_vae.generation.generative import GENERATE_BATCH

        out = [np.zeros((0, self.vae_.latent_dim))]
        for start in range(0, len(Xs), GENERATE_BATCH):
            z_mean, _ = self.vae_.encode(ops.convert_to_tensor(Xs[start : start + GENERATE_BATCH].astype("float32")))
            out.append(np.asarray(ops.convert_to_numpy(z_mean[0]), dtype=np.float64))
        return np.concatenate(out)

    # ------------------------------------------------------------ training helpers
    def _distribution(self):
        """The ``keras.distribution.DataParallel`` of ``data_parallel=True`` over all devices, or None."""
        if not self.data_parallel:
            return None
        import keras

        if keras.backend.backend() != "jax":
            raise ValueError(
                f"data_parallel=True needs the JAX backend (KERAS_BACKEND=jax): Keras implements "
                f"keras.distribution only for JAX so far, not for {keras.backend.backend()!r}."
            )
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices())

    def _calibration_share(self) -> float:
        """``calibration_fraction`` resolved: ``'auto'`` holds out ``AUTO_CALIBRATION_FRACTION`` for the rules
        whose guarantee needs rows the fit never used (conformal, POT), none for the quantile rule."""
        if self.calibration_fraction == "auto":
            return 0.0 if self.threshold == "quantile" else AUTO_CALIBRATION_FRACTION
        return float(self.calibration_fraction)

    def _held_out_counts(self, n: int) -> tuple[int, int]:
        """Validation (early stopping) and calibration (threshold, p-values) examples held out of ``n``; at
        least one example is left to train on, giving up the calibration split first."""
        n_val, n_cal = int(self.validation_fraction * n), int(self._calibration_share() * n)
        if n - n_val - n_cal < 1:
            n_cal = 0
        if n - n_val < 1:
            n_val = 0
        return n_val, n_cal

    def _epoch_rows(self, n_train: int) -> int:
        """Examples one epoch passes over. With ``epochs='auto'`` a small training set is repeated to
        at least ``AUTO_MIN_STEPS_PER_EPOCH`` steps, so training counts steps rather than passes,
        and topped up to whole batches, so no smaller last batch costs a second compilation."""
        batch = self.batch_size
        if self.epochs != "auto" or n_train >= AUTO_MIN_STEPS_PER_EPOCH * batch:
            return n_train
        repeats = -(-AUTO_MIN_STEPS_PER_EPOCH * batch // n_train)
        return -(-repeats * n_train // batch) * batch

    def _schedule(self, steps_per_epoch: int, passes_per_epoch: float = 1.0) -> tuple[int, int | None]:
        """Epochs and early-stopping patience, resolving ``'auto'`` to about ``_auto_steps`` steps
        and at least ``AUTO_MIN_PASSES`` passes over the training examples."""
        epochs = self.epochs
        if epochs == "auto":
            epochs = int(max(np.ceil(self._auto_steps / steps_per_epoch), np.ceil(AUTO_MIN_PASSES / passes_per_epoch)))
        patience = self.patience
        if patience == "auto":
            patience = max(10, epochs // 10)
        return epochs, patience

    # ------------------------------------------------------------ scoring helpers
    def _scorer(self, features: bool):
        from anomaly_vae.detectors.scoring import ScoreModel

        key = (self.score_rule, features)
        if key not in self._scorers:
            self._scorers[key] = ScoreModel(self.vae_, score=self.score_rule, features=features)
        return self._scorers[key]

    def _predict(self, Xs: np.ndarray, features: bool = False):
        """Scores (and per-element NLL if ``features``) of prepared examples, checked finite."""
        from anomaly_vae.detectors.scoring import predict_scores

        if len(Xs) == 0:
            empty = np.zeros(0)
            return (empty, np.zeros((0, *Xs.shape[1:]))) if features else empty
        out = predict_scores(self._scorer(features), Xs, batch_size=self._score_batch_size)
        check_finite_scores(out[0] if features else out)
        return out

    # --------------------------------------------------------- persistence
    def __getstate__(self):
        if "_latent_fit" in self.__dict__:
            _ = self.latent_mixture_  # fitted now, so a pickle carries the mixture rather than training examples
        state = self.__dict__.copy()
        state.pop("_scorers", None)
        if "vae_" in state:
            from anomaly_vae.persistence.model_files import vae_to_bytes

            state["vae_"] = vae_to_bytes(state["vae_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("vae_"), (bytes, bytearray)):
            from anomaly_vae.persistence.model_files import vae_from_bytes

            state = {**state, "vae_": vae_from_bytes(bytes(state["vae_"])), "_scorers": {}}
        if "latent_mixture_" in state:  # pickled before the mixture was fitted on first use
            state = {**state, "_latent_mixture": state["latent_mixture_"]}
            del state["latent_mixture_"]
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
