"""The named choices of the model's string parameters, in one place and without importing Keras.

The detector's parameter constraints, the VAE's checks and the command-line help all read them here.
What each choice means is documented where it is implemented (``likelihoods.py``, ``scoring.py``).
"""

LIKELIHOODS = ("gaussian", "heteroscedastic", "mse", "bernoulli")
"""Decoder distributions; see :mod:`anomaly_vae.network.likelihoods`."""

SCORE_MEANINGS = {
    "elbo": "negative ELBO",
    "reconstruction": "reconstruction NLL",
    "kl": "KL divergence of its code to the prior",
    "recon_prob": "negative log reconstruction probability",
    "iwae": "importance-weighted bound on its negative log-likelihood",
    "worst": "summed NLL of its worst-explained elements",
    "worst_region": "summed NLL of its worst-explained regions",
}
"""Each score rule in a few words, for people reading a run (the model's description in MLflow)."""

SCORES = tuple(SCORE_MEANINGS)
"""Anomaly score rules; see ``anomaly_vae.detectors.scoring``."""

PREPROCESSINGS = ("standard", "robust", "quantile")
"""Input transforms of ``VAEAnomalyDetector(preprocessing=...)``."""

PRECISIONS = ("float32", "mixed_bfloat16")
"""Keras dtype policies of ``VAEAnomalyDetector(precision=...)`` (``mixed_float16`` would need loss scaling)."""

BACKENDS = ("jax", "tensorflow", "torch")
"""Keras backends with a training step in ``anomaly_vae.network.steps`` (``<backend>_step.py``)."""

PARAMETER_CHOICES = {
    "likelihood": LIKELIHOODS,
    "score_rule": SCORES,
    "preprocessing": PREPROCESSINGS,
    "precision": PRECISIONS,
}
"""``VAEAnomalyDetector`` parameters whose value is one of a fixed set of names."""

THRESHOLD_RULES = ("quantile", "conformal", "pot")
"""How a detector sets its threshold from the calibration scores; see :mod:`anomaly_vae.decisions.threshold`."""

PARAMETER_CHOICES["threshold"] = THRESHOLD_RULES

MISSING = ("reject", "marginalise")
"""What ``VAEAnomalyDetector(missing=...)`` does with NaN in its input: refuse it, naming the row and column, or
count only the observed entries (:class:`anomaly_vae.network.likelihoods.ObservedOnly`). Not a pipeline option (the fit
pipeline imputes), so not in :data:`PARAMETER_CHOICES`."""

SERIES_ARCHITECTURES = ("conv", "dense")
"""Parts of ``VAESeriesDetector(architecture=...)``: 1-D convolutions over a window, or dense layers on the flattened
window (:class:`~anomaly_vae.VAESeriesDetector`)."""

SERIES_POINT_RULES = ("mean", "max", "position")
"""How ``VAESeriesDetector(point_rule=...)`` scores a time point from the windows covering it: the mean or the max of
their scores, or the mean of the point's own shares of their scores (:class:`~anomaly_vae.VAESeriesDetector`)."""

SERIES_PARAMETER_CHOICES = {"point_rule": SERIES_POINT_RULES, "architecture": SERIES_ARCHITECTURES}
"""``VAESeriesDetector``'s own parameters whose value is one of a fixed set of names."""

SAMPLE_CODES = ("aggregate", "prior")
"""Where ``sample(codes=...)`` draws latent codes (the first is the default): a Gaussian mixture fitted to the
training examples' codes (:mod:`anomaly_vae.generation.latent_mixture`), or the prior N(0, I)."""
