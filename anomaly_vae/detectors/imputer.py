"""``VAEImputer``: scikit-learn's imputer interface around a VAE that marginalises missing entries (MIWAE)."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from anomaly_vae.choices import PREPROCESSINGS
from anomaly_vae.decisions.p_values import CalibrationWarning
from anomaly_vae.detectors.base_detector import TRAINING_CONSTRAINTS
from anomaly_vae.inputs.validation import check_missing, check_positive_int

DETECTOR_PARAMETERS = (
    "latent_dim",
    "hidden_units",
    "beta",
    "likelihood",
    "preprocessing",
    "epochs",
    "batch_size",
    "learning_rate",
    "validation_fraction",
    "patience",
    "activation",
    "random_state",
    "verbose",
)
"""The imputer's parameters that configure its :class:`~anomaly_vae.detectors.table_detector.VAEAnomalyDetector` (same meaning)."""


class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill missing values (NaN) with a VAE trained on the incomplete data itself, the MIWAE way.

    ``fit`` trains a :class:`~anomaly_vae.detectors.table_detector.VAEAnomalyDetector` with ``missing="marginalise"``: its
    likelihood counts only the observed entries and its encoder sees which are missing, so no value is
    invented for training. ``transform`` replaces each NaN by its importance-weighted conditional mean given the
    row's observed entries (:mod:`anomaly_vae.generation.imputation`); observed entries are returned exactly as given.
    :meth:`sample_imputations` draws from the conditional distribution instead, for multiple imputation.

    Parameters
    ----------
    latent_dim : int or None, default=None
        Size of the latent code. None picks ``clip(n_features // 2, 2, 16)``.
    hidden_units : tuple of int or None, default=(128, 128)
        Encoder layer widths (the decoder mirrors them); None scales them to the data as the detector does.
        Wider than the detector's default, as in MIWAE: on the benchmark's small sets the detector's narrower
        ReLU network often learnt to ignore its code and imputed the column means (``benchmarks/RESULTS.md``,
        "Imputation").
    beta : float, default=1.0
        Weight of the KL term in training. 1 trains on the true ELBO, whose posterior the importance weights assume.
    likelihood : {"gaussian", "heteroscedastic", "mse"}, default="gaussian"
        Decoder distribution of each feature given the code.
    preprocessing : {"standard", "robust", "quantile"}, default="standard"
        Column transform fitted on the observed values (the imputations are mapped back through it).
    epochs : int or "auto", default="auto"
        Training epochs; ``'auto'`` trains for a fixed number of gradient steps (see the detector).
    batch_size : int, default=128
    learning_rate : float, default=1e-3
    validation_fraction : float, default=0.1
        Share of the rows held out to choose the early-stopping epoch.
    patience : int, "auto" or None, default="auto"
        Early-stopping patience on the validation rows' marginal ELBO.
    n_draws : int, default=1000
        Importance draws per row for the conditional mean and the draws.
    activation : str, default="tanh"
        Hidden-layer activation. ``'tanh'`` (MIWAE's) imputed better than ``'relu'`` on average over the benchmark
        sets (``benchmarks/HISTORY.md``, "Imputation").
    random_state : int, RandomState instance or None, default=None
        Seeds the training and the fixed importance draws: the same seed imputes the same values.
    verbose : int, default=0

    Attributes
    ----------
    detector_ : VAEAnomalyDetector
        The fitted VAE (its ``anomaly_score`` scores rows with missing entries too).
    draws_ : ndarray of shape (n_draws, latent_dim)
        The standard-normal draws behind the importance samples, fixed at ``fit``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined only when ``X`` was a DataFrame with string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Imputes each feature by regression on the others.
    sklearn.impute.KNNImputer : Imputes from the nearest complete neighbours.

    References
    ----------
    Mattei & Frellsen, "MIWAE: Deep Generative Modelling and Imputation of Incomplete Data Sets", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from anomaly_vae import VAEImputer
    >>> X = np.random.default_rng(0).normal(size=(200, 3)) @ [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.1]]
    >>> X[::3, 2] = np.nan
    >>> imputer = VAEImputer(epochs=5, random_state=0).fit(X)
    >>> np.isnan(imputer.transform(X)).any()
    np.False_
    """

    _parameter_constraints: dict = {
        **{k: TRAINING_CONSTRAINTS[k] for k in DETECTOR_PARAMETERS if k in TRAINING_CONSTRAINTS},
        "likelihood": [StrOptions({"gaussian", "heteroscedastic", "mse"})],
        "hidden_units": [tuple, list, None],
        "preprocessing": [StrOptions(set(PREPROCESSINGS))],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "activation": [str],
    }

    def __init__(
        self,
        *,
        latent_dim=None,
        hidden_units=(128, 128),
        beta=1.0,
        likelihood="gaussian",
        preprocessing="standard",
        epochs="auto",
        batch_size=128,
        learning_rate=1e-3,
        validation_fraction=0.1,
        patience="auto",
        n_draws=1000,
        activation="tanh",
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.beta = beta
        self.likelihood = likelihood
        self.preprocessing = preprocessing
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_draws = n_draws
        self.activation = activation
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train the VAE on ``X`` (NaN = missing), marginalising the missing entries.

        Returns
        -------
        self
        """
        from anomaly_vae.detectors.table_detector import VAEAnomalyDetector

        self._validate_params()
        X = self._check(X, reset=True)
        rng = check_random_state(self.random_state)
        params = {k: getattr(self, k) for k in DETECTOR_PARAMETERS}
        params["random_state"] = int(rng.randint(np.iinfo(np.int32).max))
        names = getattr(self, "feature_names_in_", None)  # the detector keeps them too: saved, they are checked
        with warnings.catch_warnings():  # the detector's threshold is not the imputer's concern
            warnings.simplefilter("ignore", CalibrationWarning)
            self.detector_ = VAEAnomalyDetector(missing="marginalise", **params).fit(
                X if names is None else pd.DataFrame(X, columns=names)
            )
        self.draws_ = rng.standard_normal((self.n_draws, self.detector_.vae_.latent_dim))
        return self

    def transform(self, X):
        """``X`` with each NaN replaced by its conditional mean given the row's observed entries."""
        from anomaly_vae.generation.imputation import conditional_means

        check_is_fitted(self)
        X = self._check(X, reset=False)
        out = np.array(X, dtype=np.float64)
        missing = np.isnan(out)
        rows = np.flatnonzero(missing.any(axis=1))
        if len(rows):
            estimate = self._to_user(conditional_means(self.detector_.vae_, self._network(X[rows]), self.draws_))
            out[rows] = np.where(missing[rows], estimate, out[rows])
            _check_finite_imputations(out[rows], rows)
        return out

    def sample_imputations(self, X, n_imputations: int = 5, random_state=None) -> list:
        """``n_imputations`` completed copies of ``X``, each NaN drawn from its conditional distribution given the
        row's observed entries (multiple imputation: analyse each copy, then pool, as with Rubin's rules).
        Observed entries are kept exactly. Returns a list of arrays, or of DataFrames when ``X`` is one."""
        from anomaly_vae.generation.imputation import conditional_draws

        check_is_fitted(self)
        m = check_positive_int("n_imputations", n_imputations)
        checked = self._check(X, reset=False)
        missing = np.isnan(checked)
        rows = np.flatnonzero(missing.any(axis=1))
        draws = (
            conditional_draws(
                self.detector_.vae_, self._network(checked[rows]), self.draws_, m, check_random_state(random_state)
            )
            if len(rows)
            else np.zeros((m, 0, checked.shape[1]))
        )
        out = []
        for draw in draws:
            completed = np.array(checked, dtype=np.float64)
            completed[rows] = np.where(missing[rows], self._to_user(draw), completed[rows])
            _check_finite_imputations(completed[rows], rows)
            out.append(
                pd.DataFrame(completed, columns=X.columns, index=X.index) if isinstance(X, pd.DataFrame) else completed
            )
        return out

    # ------------------------------------------------------------------ helpers
    def _check(self, X, reset: bool) -> np.ndarray:
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=2 if reset else 1,
            reset=reset,
        )
        check_missing(X, getattr(self, "feature_names_in_", None), columns=reset)
        return X

    def _network(self, X: np.ndarray) -> np.ndarray:
        return self.detector_._transform(X)

    def _to_user(self, x: np.ndarray) -> np.ndarray:
        return self.detector_.scaler_.inverse_transform(x)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _check_finite_imputations(completed: np.ndarray, rows: np.ndarray) -> None:
    """Never hand out NaN or inf as an imputed value: name the first row that got one."""
    bad = ~np.isfinite(completed)
    if bad.any():
        raise ValueError(
            f"The model imputed a non-finite value in row {rows[np.argwhere(bad)[0][0]]} "
            f"({int(bad.sum())} values in all): its weights are damaged or the network overflowed."
        )
