"""``VAEAnomalyDetector``: a scikit-learn outlier detector around the Keras ``VAE``."""

from __future__ import annotations

import random
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, RobustScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from anomaly_vae.choices import LIKELIHOODS, PRECISIONS, PREPROCESSINGS, SCORES
from anomaly_vae.threshold import AUTO_QUANTILE, fpr_threshold, quantile_threshold
from anomaly_vae.validation import check_finite, check_finite_scores

AUTO_STEPS = 5_000
AUTO_MIN_PASSES = 100
"""``epochs='auto'``: about ``AUTO_STEPS`` gradient steps, and at least ``AUTO_MIN_PASSES``
passes over the training rows."""

AUTO_MIN_STEPS_PER_EPOCH = 64
"""``epochs='auto'`` repeats a small training set so one epoch is at least this many steps:
Keras' per-epoch work (validation, callbacks) then stays small next to the training."""

STEPS_PER_EXECUTION = 2 * AUTO_MIN_STEPS_PER_EPOCH
"""Training steps per compiled call (JAX and TensorFlow), capped at the steps in one epoch: the
epoch of a repeated small training set (at most twice the minimum) is then one call, compiled once."""

INPUT_CLIP = 1e6
"""Standardised inputs are clipped to +/- this many scales so extreme rows score finite, not NaN."""


class VAEAnomalyDetector(OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detector that scores rows by a VAE's negative ELBO.

    Fit it on normal rows. A row's anomaly score is its reconstruction negative
    log-likelihood plus the KL of its posterior to the prior (higher = more
    anomalous), averaged over ``n_samples`` fixed latent draws, so it is
    reproducible and independent of the other rows in the batch.

    Parameters
    ----------
    latent_dim : int or None, default=None
        Size of the latent code. None picks ``clip(n_features // 2, 2, 16)``.
    hidden_units : tuple of int or None, default=None
        Encoder layer widths (the decoder mirrors them). None scales them to the data.
    beta : float, default=0.25
        Weight of the KL term in the training loss. The score always uses the true ELBO.
        Below 1 the latent code keeps more detail of each row, which ranked anomalies better on the
        ADBench sets (figures: ``benchmarks/RESULTS.md``, "Detection quality").
    likelihood : {"gaussian", "heteroscedastic", "mse", "bernoulli"}, default="gaussian"
        Decoder distribution: Gaussian with learned per-feature variance, Gaussian with a
        variance predicted per row, unit-variance Gaussian (MSE), or Bernoulli (inputs are
        min-max scaled to [0, 1]).
    score_rule : {"elbo", "reconstruction", "kl", "recon_prob", "iwae"}, default="elbo"
        What ``anomaly_score`` computes; see :data:`anomaly_vae.choices.SCORES`.
        (Not named ``score``: scikit-learn reserves that name for a method.)
    preprocessing : {"standard", "robust", "quantile"}, default="standard"
        Input transform fitted on the training rows (ignored for ``bernoulli``).
    epochs : int or "auto", default="auto"
        Maximum number of training epochs. ``'auto'`` trains for about ``AUTO_STEPS`` gradient
        steps whatever the data size: a small training set is repeated so an epoch holds at
        least ``AUTO_MIN_STEPS_PER_EPOCH`` steps, and large ones get at least 100 passes.
    batch_size : int, default=128
        Rows per gradient step.
    learning_rate : float, default=1e-3
        Adam's step size (gradients are clipped to a global norm of 10).
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping and for the ``'auto'`` threshold.
    patience : int, "auto" or None, default="auto"
        Early-stopping patience (epochs) on the validation loss; ``'auto'`` is a tenth of
        the epochs (at least 10); None trains all epochs.
    contamination : "auto" or float in (0, 0.5], default="auto"
        ``'auto'`` puts the threshold at the 99th percentile of the held-out rows'
        scores (1% false positives on normal data). A float is the share of the
        training rows to flag, as in scikit-learn's IsolationForest.
    n_samples : int, default=16
        Latent draws averaged per row when scoring.
    n_members : int, default=1
        Networks trained side by side from different starting weights, in one model (a leading
        weight axis); scores are their mean. More members rank better and take longer to fit, so the
        default is one (figures: ``benchmarks/RESULTS.md``, "Detection quality").
    categorical_groups : list of lists of int or None, default=None
        Column indices of one-hot encoded categorical inputs, one list per input. Each group gets a
        categorical likelihood (a softmax over its columns) instead of ``likelihood``, and is not
        scaled; its values must be 0 or 1. The fit pipeline passes its one-hot groups here.
    activation : str, default="relu"
        Hidden-layer activation (any Keras activation name). Others were tried on the ADBench sets and
        none beat ``'relu'`` on average (``benchmarks/RESULTS.md``).
    kl_warmup : float in [0, 1), default=0.0
        Share of the epochs over which the KL weight of the training loss ramps linearly from 0 to
        ``beta`` (early stopping starts after it). 0 trains at ``beta`` from the first step.
    data_parallel : bool, default=False
        Train with ``keras.distribution.DataParallel`` over every device the backend sees (JAX only; Keras
        does not implement it on TensorFlow and torch yet). The batch size is rounded up to a multiple of
        the device count, the training rows are topped up to whole batches and the validation rows trimmed
        to a multiple of the device count, so every batch splits evenly.
    precision : {"float32", "mixed_bfloat16"}, default="float32"
        Keras dtype policy of the network. ``'mixed_bfloat16'`` computes the layers in
        bfloat16 (faster on recent GPUs) while weights, the loss and the scores stay in
        float32. (``mixed_float16`` is not offered: it needs loss scaling in the custom steps.)
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the weights and the noise. ``fit`` also seeds the global
        Python, NumPy and backend generators (as ``keras.utils.set_random_seed``),
        restoring Python's and NumPy's afterwards.
    verbose : int, default=0
        0 is silent, 1 shows one progress bar over the epochs (on a terminal), 2 prints a line per epoch.

    Attributes
    ----------
    vae_ : anomaly_vae.VAE
        The trained Keras model.
    scaler_ : sklearn transformer
        The input transform fitted on the training rows.
    history_ : dict of list of float
        Per-epoch ``loss``, ``reconstruction_loss``, ``kl_loss`` and their ``val_`` twins.
    n_epochs_ : int
        Epochs actually run (early stopping may end training sooner). With ``epochs='auto'``
        an epoch may pass over a small training set several times.
    validation_scores_ : ndarray of shape (n_validation,)
        Anomaly scores of the held-out normal rows (the training rows if none were held out).
    threshold_ : float
        Anomaly-score threshold; rows scoring above it are predicted -1.
    offset_ : float
        ``-threshold_``, so that ``decision_function = score_samples - offset_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined only when ``X`` was a DataFrame with string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : The classical baseline with the same interface.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    An & Cho, "Variational Autoencoder based Anomaly Detection using Reconstruction Probability", 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from anomaly_vae import VAEAnomalyDetector
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> det = VAEAnomalyDetector(epochs=5, random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0, 0.0, 0.0], [8.0, -8.0, 8.0, -8.0]]).tolist()
    [1, -1]
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_units": [tuple, list, None],
        "beta": [Interval(Real, 0, None, closed="left")],
        "likelihood": [StrOptions(set(LIKELIHOODS))],
        "score_rule": [StrOptions(set(SCORES))],
        "preprocessing": [StrOptions(set(PREPROCESSINGS))],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "categorical_groups": [list, tuple, None],
        "activation": [str],
        "kl_warmup": [Interval(Real, 0, 1, closed="left")],
        "data_parallel": ["boolean"],
        "precision": [StrOptions(set(PRECISIONS))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        latent_dim=None,
        hidden_units=None,
        beta=0.25,
        likelihood="gaussian",
        score_rule="elbo",
        preprocessing="standard",
        epochs="auto",
        batch_size=128,
        learning_rate=1e-3,
        validation_fraction=0.1,
        patience="auto",
        contamination="auto",
        n_samples=16,
        n_members=1,
        categorical_groups=None,
        activation="relu",
        kl_warmup=0.0,
        data_parallel=False,
        precision="float32",
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.beta = beta
        self.likelihood = likelihood
        self.score_rule = score_rule
        self.preprocessing = preprocessing
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.contamination = contamination
        self.n_samples = n_samples
        self.n_members = n_members
        self.categorical_groups = categorical_groups
        self.activation = activation
        self.kl_warmup = kl_warmup
        self.data_parallel = data_parallel
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, callbacks=None):
        """Train on normal rows ``X`` and set the threshold.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Normal rows, numeric, without NaN or inf; at least 2 rows.
        y : ignored
        callbacks : list of keras.callbacks.Callback, optional
            Extra Keras callbacks (for example MLflow logging), run after early stopping.

        Returns
        -------
        self
        """
        import keras

        from anomaly_vae.callbacks import EpochProgressBar, FailOnNonFiniteLoss, KLWarmUp, LogELBO
        from anomaly_vae.persistence import compile_vae
        from anomaly_vae.steps import set_random_seed
        from anomaly_vae.vae import VAE

        self._validate_params()
        distribution = self._distribution()  # fails at once on a backend without keras.distribution
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False, ensure_min_samples=2)
        check_finite(X, getattr(self, "feature_names_in_", None))
        n, d = X.shape
        units = self.hidden_units
        if units is not None and not all(isinstance(u, Integral) and u >= 1 for u in units):
            raise ValueError(f"hidden_units must be a sequence of positive integers, got {units!r}.")

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        order = rng.permutation(n)
        n_val = int(self.validation_fraction * n)
        if n - n_val < 1:
            n_val = 0
        val_idx, train_idx = order[:n_val], order[n_val:]

        groups = self._groups(X)
        scaler = self._make_scaler(n - n_val)
        scaled = self._scaled_columns(d)
        if len(scaled):
            scaler.fit(X[train_idx][:, scaled])
        X_train = self._transform(scaler, X[train_idx])
        X_val = self._transform(scaler, X[val_idx]) if n_val else None

        latent_dim, hidden_units = self._architecture(n - n_val, d)
        py_state, np_state = random.getstate(), np.random.get_state()
        previous_distribution = keras.distribution.distribution()
        set_random_seed(seed)
        try:
            if distribution is not None:
                keras.distribution.set_distribution(distribution)
            vae = VAE(
                n_features=d,
                latent_dim=latent_dim,
                hidden_units=hidden_units,
                likelihood=self.likelihood,
                beta=self.beta,
                n_score_samples=self.n_samples,
                n_members=self.n_members,
                categorical_groups=groups,
                activation=self.activation,
                seed=seed,
                dtype=self.precision,
            )
            vae.build((None, d))
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
                X_train = np.resize(X_train, (epoch_rows, d))
            steps_per_epoch = -(-len(X_train) // batch_size)
            compile_vae(vae, self.learning_rate, steps_per_execution=min(STEPS_PER_EXECUTION, steps_per_epoch))
            epochs, patience = self._schedule(steps_per_epoch, passes_per_epoch=epoch_rows / n_train)
            monitor = "val_loss" if X_val is not None else "loss"
            cbs = [FailOnNonFiniteLoss(), LogELBO()]
            warmup = int(round(self.kl_warmup * epochs))
            if warmup:
                cbs.append(KLWarmUp(warmup))
            if patience is not None:
                cbs.append(
                    keras.callbacks.EarlyStopping(
                        monitor=monitor, mode="min", patience=patience, restore_best_weights=True, start_from_epoch=warmup
                    )
                )
            cbs += list(callbacks or [])
            if int(self.verbose) == 1:
                cbs.append(EpochProgressBar(epochs))
            history = vae.fit(
                X_train,
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

        self.scaler_ = scaler
        self.vae_ = vae
        self._scorers = {}
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))
        self.validation_scores_ = self._score_scaled(X_val if X_val is not None else X_train)
        if self.contamination == "auto":
            self.threshold_ = quantile_threshold(self.validation_scores_, AUTO_QUANTILE)
        else:
            train_scores = self._score_scaled(self._transform(scaler, X))
            self.threshold_ = float(np.percentile(train_scores, 100.0 * (1.0 - self.contamination)))
        self.offset_ = -self.threshold_
        return self

    def set_threshold(self, X_normal=None, *, target_fpr: float = 1.0 - AUTO_QUANTILE, scores=None):
        """Re-set the threshold so about ``target_fpr`` of held-out normal rows are flagged.

        Give the rows ``X_normal``, or their anomaly ``scores`` (for example ``validation_scores_``).
        """
        check_is_fitted(self)
        if (X_normal is None) == (scores is None):
            raise ValueError("Pass exactly one of X_normal or scores.")
        self.threshold_ = fpr_threshold(self.anomaly_score(X_normal) if scores is None else scores, target_fpr)
        self.offset_ = -self.threshold_
        return self

    # -------------------------------------------------------------- scoring
    def anomaly_score(self, X) -> np.ndarray:
        """Negative ELBO (or the chosen ``score_rule``) per row; higher means more anomalous."""
        return self._score_scaled(self._prepare(X))

    def score_samples(self, X) -> np.ndarray:
        """Opposite of :meth:`anomaly_score` (scikit-learn's convention: higher = more normal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for predicted anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def feature_scores(self, X) -> pd.DataFrame:
        """Per-feature reconstruction NLL behind each row's score (higher = that feature is more unusual).

        Rows sum, with the KL term, to the ``elbo`` anomaly score. Columns carry the
        input's feature names; the index follows ``X`` when it is a DataFrame.
        """
        return self.score_with_features(X)[1]

    def score_with_features(self, X) -> tuple[np.ndarray, pd.DataFrame]:
        """:meth:`anomaly_score` and :meth:`feature_scores` together, from one pass of the network."""
        Xs = self._prepare(X)
        scores, features = self._predict(Xs, features=True)
        names = getattr(self, "feature_names_in_", None)
        columns = list(names) if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return scores, pd.DataFrame(features, columns=columns, index=index)

    def latent_means(self, X) -> np.ndarray:
        """Posterior means ``z_mean`` for rows ``X`` (for plots of the latent space), from the first
        ensemble member: the members' latent spaces are not aligned with each other."""
        from keras import ops

        Xs = self._prepare(X)
        z_mean, _ = self.vae_.encode(ops.convert_to_tensor(Xs.astype("float32")))
        return np.asarray(ops.convert_to_numpy(z_mean[0]), dtype=np.float64)

    # ------------------------------------------------------------ helpers
    def _prepare(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=False, reset=False)
        check_finite(X, getattr(self, "feature_names_in_", None))
        return self._transform(self.scaler_, X)

    def _transform(self, scaler, X) -> np.ndarray:
        """Scale the columns outside ``categorical_groups``; one-hot columns pass through as 0/1."""
        if not self.categorical_groups:
            out = scaler.transform(X)
        else:
            scaled = self._scaled_columns(X.shape[1])
            out = np.array(X, dtype=np.float64)
            if len(scaled):
                out[:, scaled] = scaler.transform(X[:, scaled])
        return np.clip(out, -INPUT_CLIP, INPUT_CLIP).astype(np.float32)

    def _scaled_columns(self, n_features: int) -> np.ndarray:
        onehot = {c for g in self.categorical_groups or () for c in g}
        return np.array([j for j in range(n_features) if j not in onehot], dtype=int)

    def _groups(self, X: np.ndarray) -> list[list[int]]:
        """``categorical_groups`` checked against ``X``: indices in range, used once, values 0 or 1."""
        from anomaly_vae.likelihoods import check_groups

        groups = [list(g) for g in check_groups(self.categorical_groups or (), X.shape[1])]
        for g in groups:
            values = X[:, g]
            if not np.isin(values, (0.0, 1.0)).all():
                raise ValueError(f"categorical_groups: columns {g} must hold only 0 and 1 (one-hot).")
        return groups

    def _make_scaler(self, n_train: int):
        if self.likelihood == "bernoulli":
            return MinMaxScaler()
        if self.preprocessing == "robust":
            return RobustScaler()
        if self.preprocessing == "quantile":
            return QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, n_train))
        return StandardScaler()

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

    def _epoch_rows(self, n_train: int) -> int:
        """Rows one epoch passes over. With ``epochs='auto'`` a small training set is repeated to
        at least ``AUTO_MIN_STEPS_PER_EPOCH`` steps, so training counts steps rather than passes,
        and topped up to whole batches, so no smaller last batch costs a second compilation."""
        batch = self.batch_size
        if self.epochs != "auto" or n_train >= AUTO_MIN_STEPS_PER_EPOCH * batch:
            return n_train
        repeats = -(-AUTO_MIN_STEPS_PER_EPOCH * batch // n_train)
        return -(-repeats * n_train // batch) * batch

    def _schedule(self, steps_per_epoch: int, passes_per_epoch: float = 1.0) -> tuple[int, int | None]:
        """Epochs and early-stopping patience, resolving ``'auto'`` to about ``AUTO_STEPS`` steps
        and at least ``AUTO_MIN_PASSES`` passes over the training rows."""
        epochs = self.epochs
        if epochs == "auto":
            epochs = int(max(np.ceil(AUTO_STEPS / steps_per_epoch), np.ceil(AUTO_MIN_PASSES / passes_per_epoch)))
        patience = self.patience
        if patience == "auto":
            patience = max(10, epochs // 10)
        return epochs, patience

    def _architecture(self, n_train: int, n_features: int):
        latent = self.latent_dim if self.latent_dim is not None else int(np.clip(n_features // 2, 2, 16))
        if self.hidden_units is not None:
            return latent, tuple(int(u) for u in self.hidden_units)
        width = int(np.clip(2 ** np.ceil(np.log2(max(2 * n_features, 1))), 32, 256))
        return latent, (width, width // 2)

    def _scorer(self, features: bool):
        from anomaly_vae.scoring import ScoreModel

        key = (self.score_rule, features)
        if key not in self._scorers:
            self._scorers[key] = ScoreModel(self.vae_, score=self.score_rule, features=features)
        return self._scorers[key]

    def _predict(self, Xs: np.ndarray, features: bool = False):
        from anomaly_vae.scoring import predict_scores

        if len(Xs) == 0:
            empty = np.zeros(0)
            return (empty, np.zeros((0, self.n_features_in_))) if features else empty
        out = predict_scores(self._scorer(features), Xs)
        check_finite_scores(out[0] if features else out)
        return out

    def _score_scaled(self, Xs: np.ndarray) -> np.ndarray:
        return self._predict(Xs)

    # --------------------------------------------------------- persistence
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_scorers", None)
        if "vae_" in state:
            from anomaly_vae.persistence import vae_to_bytes

            state["vae_"] = vae_to_bytes(state["vae_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("vae_"), (bytes, bytearray)):
            from anomaly_vae.persistence import vae_from_bytes

            state = {**state, "vae_": vae_from_bytes(bytes(state["vae_"])), "_scorers": {}}
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

