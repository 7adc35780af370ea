"""``VAEAnomalyDetector``: a scikit-learn outlier detector around the Keras ``VAE``."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, RobustScaler, StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from anomaly_vae.choices import MISSING, PREPROCESSINGS
from anomaly_vae.detectors.base_detector import MAX_MEMBERS, TRAINING_CONSTRAINTS, BaseVAEDetector
from anomaly_vae.inputs.validation import check_finite, check_missing

INPUT_CLIP = 1e6
"""Standardised inputs are clipped to +/- this many scales so extreme rows score finite, not NaN."""


class VAEAnomalyDetector(BaseVAEDetector):
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
    score_rule : {"elbo", "reconstruction", "kl", "recon_prob", "iwae", "worst", "worst_region"}, \
            default="elbo"
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
        Share of the rows held out to choose the early-stopping epoch.
    calibration_fraction : float or "auto", default="auto"
        Share of the rows held out to calibrate the threshold and the p-values (the fit pipeline holds out 0.1).
        They neither train the network nor choose its epoch, so their scores are like those of new normal rows
        and the p-values' guarantee holds. 0 calibrates on the validation rows, which chose the early-stopping
        epoch: on the ADBench sets their realised false-positive rates ran up to 2.7 times the target. ``'auto'``
        holds out 0.1 with the ``'conformal'`` and ``'pot'`` rules and 0 with ``'quantile'``, whose fits then keep
        every row for training (holding out 0.1 cost 0.005 ROC-AUC and 0.02 AP on the ADBench sets;
        ``benchmarks/RESULTS.md``, "Calibration").
    patience : int, "auto" or None, default="auto"
        Early-stopping patience (epochs) on the validation loss; ``'auto'`` is a tenth of
        the epochs (at least 10); None trains all epochs.
    contamination : "auto" or float in (0, 0.5], default="auto"
        ``'auto'`` sets the threshold by the ``threshold`` rule for ``target_fpr`` on the calibration
        rows' scores. A float is the share of the training rows to flag, as in scikit-learn's IsolationForest.
    threshold : {"quantile", "conformal", "pot"}, default="quantile"
        How the threshold is set from the calibration scores for ``target_fpr``.
        ``'quantile'``: their ``1 - target_fpr`` quantile; ``'conformal'``: flag exactly the rows whose
        p-value (:meth:`p_values`) is at most ``target_fpr``, which keeps the false-positive rate at most
        ``target_fpr`` on new normal rows; ``'pot'``: a generalised Pareto fit to the highest scores, for rates far
        below one over the number of calibration rows (:mod:`anomaly_vae.decisions.threshold`).
    target_fpr : float in (0, 1), default=0.01
        Share of normal rows the threshold should flag (its false-positive rate).
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
    missing : {"reject", "marginalise"}, default="reject"
        What NaN in ``X`` means. ``'reject'``: an error naming the first NaN's row and column. ``'marginalise'``:
        a missing entry, for training and scoring alike; the encoder sees which entries are missing and the
        likelihood counts the observed entries only (as in MIWAE), their NLL scaled to the full row in the score
        (``n_features / n_observed``) so incomplete rows score on the scale of complete ones. If the training rows
        are complete, set ``corruption_mask`` (0.1 in ``benchmarks/missing_scores.py``) so the encoder meets missing
        entries in training too. A column with no value and a row with none are still refused.
    activation : str, default="relu"
        Hidden-layer activation (any Keras activation name). Others were tried on the ADBench sets and
        none beat ``'relu'`` on average (``benchmarks/RESULTS.md``).
    kl_warmup : float in [0, 1), default=0.0
        Share of the epochs over which the KL weight of the training loss ramps linearly from 0 to
        ``beta`` (early stopping starts after it). 0 trains at ``beta`` from the first step.
    corruption_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the network's inputs in training (standardised units), while the
        loss scores the clean inputs: a denoising VAE (:meth:`denoise`). 0 trains on the inputs as they are.
    corruption_mask : float in [0, 1), default=0.0
        Share of the input entries hidden from the encoder in training, at random (missing with
        ``missing="marginalise"``, else 0), while the loss scores the clean inputs.
    use_labels : bool, default=False
        Train on known anomalies: ``fit(X, y)`` with ``y == 1`` for rows known to be anomalous and 0 for normal
        ones. The ELBO still models the normal rows, and a deviation term pushes each known anomaly's score at
        least 5 standard deviations above the normal rows' (:mod:`anomaly_vae.network.known_anomalies`); the
        validation and calibration rows are normal rows only. False ignores ``y``, as scikit-learn's outlier
        detectors do (figures: ``benchmarks/RESULTS.md``, "Known anomalies").
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
    training_plan_ : dict
        What ``fit`` built and ran, with every ``'auto'`` and ``None`` resolved: ``latent_dim``,
        ``hidden_units``, ``n_members``, ``n_weights``, the split (``n_train``, ``n_validation``, ``n_calibration``),
        ``batch_size``, ``steps_per_epoch``, ``epochs`` and ``patience`` planned, ``kl_warmup_epochs``,
        ``epochs_run`` and ``epoch_kept`` (the epoch whose weights early stopping restored), and the
        ``monitor``ed loss. Set by ``fit`` for the run's record; a saved model does not keep it.
    validation_scores_ : ndarray of shape (n_validation,)
        Anomaly scores of the held-out normal rows (the training rows if none were held out).
    calibration_scores_ : ndarray of shape (n_calibration,)
        Anomaly scores of the calibration rows (or of the rows given to :meth:`set_threshold`); the
        threshold and :meth:`p_values` are set from them.
    threshold_ : float
        Anomaly-score threshold; rows scoring above it are predicted -1 (``inf`` when the conformal rule
        cannot flag anything at ``target_fpr`` with so few calibration rows).
    threshold_rule_, target_fpr_ : str, float
        The rule and target the threshold was set with (``fit`` or :meth:`set_threshold`).
    latent_mixture_ : anomaly_vae.generation.latent_mixture.LatentMixture
        A Gaussian mixture fitted to the training rows' codes: where :meth:`sample` draws codes.
    column_support_ : anomaly_vae.generation.column_support.ColumnSupport
        Each scaled column's decimals and range in the training rows: where :meth:`sample` keeps its values.
    tail_ : anomaly_vae.decisions.tail.TailFit or None
        The generalised Pareto fit of the ``'pot'`` rule (start, shape, scale, excesses); None otherwise or
        when it fell back to the quantile.
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
        **TRAINING_CONSTRAINTS,
        "hidden_units": [tuple, list, None],
        "preprocessing": [StrOptions(set(PREPROCESSINGS))],
        "n_members": [Interval(Integral, 1, MAX_MEMBERS, closed="both")],
        "categorical_groups": [list, tuple, None],
        "missing": [StrOptions(set(MISSING))],
        "activation": [str],
        "use_labels": ["boolean"],
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
        calibration_fraction="auto",
        patience="auto",
        contamination="auto",
        threshold="quantile",
        target_fpr=0.01,
        n_samples=16,
        n_members=1,
        categorical_groups=None,
        missing="reject",
        activation="relu",
        kl_warmup=0.0,
        corruption_noise=0.0,
        corruption_mask=0.0,
        use_labels=False,
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
        self.calibration_fraction = calibration_fraction
        self.patience = patience
        self.contamination = contamination
        self.threshold = threshold
        self.target_fpr = target_fpr
        self.n_samples = n_samples
        self.n_members = n_members
        self.categorical_groups = categorical_groups
        self.missing = missing
        self.activation = activation
        self.kl_warmup = kl_warmup
        self.corruption_noise = corruption_noise
        self.corruption_mask = corruption_mask
        self.use_labels = use_labels
        self.data_parallel = data_parallel
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ hooks of BaseVAEDetector
    def _check_input(self, X, reset: bool) -> np.ndarray:
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=2 if reset else 1,
            reset=reset,
        )
        names = getattr(self, "feature_names_in_", None)
        if self.missing == "marginalise":
            check_missing(X, names, columns=reset)
        else:
            check_finite(X, names)
        if reset:
            units = self.hidden_units
            if units is not None and not all(isinstance(u, Integral) and int(u) >= 1 for u in units):
                raise ValueError(f"hidden_units must be a sequence of positive integers, got {units!r}.")
            self._groups(X)
        return X

    def _fit_transform(self, X_train: np.ndarray) -> None:
        from anomaly_vae.generation.column_support import ColumnSupport

        self.scaler_ = self._make_scaler(len(X_train))
        scaled = self._scaled_columns(X_train.shape[1])
        if len(scaled):
            self.scaler_.fit(X_train[:, scaled])
        self.column_support_ = ColumnSupport.fit(X_train[:, scaled])

    def _transform(self, X: np.ndarray) -> np.ndarray:
        """Scale the columns outside ``categorical_groups``; one-hot columns pass through as 0/1."""
        if not self.categorical_groups:
            out = self.scaler_.transform(X)
        else:
            scaled = self._scaled_columns(X.shape[1])
            out = np.array(X, dtype=np.float64)
            if len(scaled):
                out[:, scaled] = self.scaler_.transform(X[:, scaled])
        return np.clip(out, -INPUT_CLIP, INPUT_CLIP).astype(np.float32)

    def _build_vae(self, event_shape, n_train: int, seed: int):
        from anomaly_vae.network.size_limits import check_network_size, check_widths, dense_size
        from anomaly_vae.network.vae import VAE

        (d,) = event_shape
        latent_dim, hidden_units = self._architecture(n_train, d)
        check_widths(hidden_units=hidden_units, latent_dim=latent_dim)
        check_network_size(
            dense_size(d, hidden_units, latent_dim, self.n_members),
            min(self.batch_size, n_train),
            f"{d} features with hidden_units {hidden_units} and n_members {self.n_members}",
        )
        return VAE(
            n_features=d,
            latent_dim=latent_dim,
            hidden_units=hidden_units,
            likelihood=self.likelihood,
            beta=self.beta,
            n_score_samples=self.n_samples,
            n_members=self.n_members,
            categorical_groups=self.categorical_groups or (),
            missing=self.missing == "marginalise",
            corruption_noise=self.corruption_noise,
            corruption_mask=self.corruption_mask,
            activation=self.activation,
            seed=seed,
            dtype=self.precision,
        )

    # -------------------------------------------------------------- explanations
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

    # ------------------------------------------------------------------ hooks of GenerativeMixin
    def _from_network(self, x: np.ndarray, like=None):
        """Rows in the input's units (the fitted scaler inverted; one-hot groups as they come: category
        probabilities for a mean, one-hot for a draw). A DataFrame with the fitted column names when the detector
        was fitted on one (indexed like ``like`` when that is a DataFrame), else an array."""
        out = np.array(x, dtype=np.float64)
        scaled = self._scaled_columns(out.shape[1])
        if len(scaled):
            out[:, scaled] = self.scaler_.inverse_transform(out[:, scaled])
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return out
        index = like.index if isinstance(like, pd.DataFrame) and len(like) == len(out) else None
        return pd.DataFrame(out, columns=list(names), index=index)

    def _generated(self, x: np.ndarray):
        """Sampled rows in the input's units, each scaled column rounded to its training values' decimals and
        clipped to their range (:mod:`anomaly_vae.generation.column_support`): a count stays a whole number."""
        out = self._from_network(x)
        values = np.asarray(out, dtype=np.float64).copy()
        scaled = self._scaled_columns(values.shape[1])
        support = getattr(self, "column_support_", None)
        if support is None or not len(scaled):
            return out
        values[:, scaled] = support.apply(values[:, scaled])
        return pd.DataFrame(values, columns=out.columns) if isinstance(out, pd.DataFrame) else values

    def _one_example(self, a):
        if isinstance(a, pd.Series):
            return a.to_frame().T
        if isinstance(a, pd.DataFrame):
            if len(a) != 1:
                raise ValueError(f"interpolate takes one row; got a DataFrame of {len(a)} rows.")
            return a
        row = np.asarray(a, dtype=np.float64)
        if row.ndim == 2 and len(row) == 1:
            return row
        if row.ndim != 1:
            raise ValueError(
                f"interpolate takes one row (a 1-D array, a Series or a one-row DataFrame); got shape {row.shape}."
            )
        return row[None]

    def latent_means(self, X) -> np.ndarray:
        """Posterior means ``z_mean`` for rows ``X`` (for plots of the latent space), from the first
        ensemble member: the members' latent spaces are not aligned with each other."""
        return self._latent_means(self._prepare(X))

    # ------------------------------------------------------------ helpers
    def _scaled_columns(self, n_features: int) -> np.ndarray:
        onehot = {c for g in self.categorical_groups or () for c in g}
        return np.array([j for j in range(n_features) if j not in onehot], dtype=int)

    def _groups(self, X: np.ndarray) -> list[list[int]]:
        """``categorical_groups`` checked against ``X``: indices in range, used once, values 0 or 1."""
        from anomaly_vae.network.likelihoods import check_groups

        groups = [list(g) for g in check_groups(self.categorical_groups or (), X.shape[1])]
        for g in groups:
            values = X[:, g]
            if not (np.isin(values, (0.0, 1.0)) | np.isnan(values)).all():
                raise ValueError(f"categorical_groups: columns {g} must hold only 0 and 1 (one-hot).")
        return groups

    def _make_scaler(self, n_train: int):
        from anomaly_vae.network.likelihoods import LIKELIHOODS

        if LIKELIHOODS[self.likelihood].unit_interval:
            return MinMaxScaler()
        if self.preprocessing == "robust":
            return RobustScaler()
        if self.preprocessing == "quantile":
            return QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, n_train))
        return StandardScaler()

    def _architecture(self, n_train: int, n_features: int):
        latent = self.latent_dim if self.latent_dim is not None else int(np.clip(n_features // 2, 2, 16))
        if self.hidden_units is not None:
            return latent, tuple(int(u) for u in self.hidden_units)
        width = int(np.clip(2 ** np.ceil(np.log2(max(2 * n_features, 1))), 32, 256))
        return latent, (width, width // 2)
