"""``VAEImageDetector``: a scikit-learn outlier detector for images, around a convolutional ``VAE``."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from anomaly_vae.detectors.base_detector import TRAINING_CONSTRAINTS, BaseVAEDetector

IMAGE_AUTO_STEPS = 1_700
"""``epochs='auto'`` for images: about this many gradient steps (a convolutional step costs far more than a tabular one).
2,000 ranked one-class MNIST a little better (``benchmarks/HISTORY.md``, "Images"); 1,700 keeps a default fit no longer
than the fit of the smaller network that preceded these defaults (``benchmarks/RESULTS.md``, "Images")."""

DEFAULT_IMAGE_LATENT = 32
"""``latent_dim=None`` for images (with ``dense_units=256`` it ranked one-class MNIST better than 16 with 128, for
about a tenth more per step: ``benchmarks/RESULTS.md``, "Images")."""


class VAEImageDetector(BaseVAEDetector):
    """Unsupervised anomaly detector for images that scores each image by what a convolutional VAE cannot explain.

    Fit it on normal images. An image's anomaly score is, by default, the reconstruction negative log-likelihood of
    its worst-explained regions (``score_rule="worst_region"``: the per-pixel NLL averaged over each pixel's
    :data:`~anomaly_vae.detectors.scoring.REGION_SIDE` x ``REGION_SIDE`` neighbourhood, and the share
    :data:`~anomaly_vae.detectors.scoring.WORST_SHARE` of the highest of those summed; higher = more anomalous), with
    the NLL averaged over ``n_samples`` fixed latent draws, so it is reproducible and independent of the other images.
    The per-pixel NLL is the :meth:`anomaly_map`; ``score_rule="elbo"`` scores the whole negative ELBO instead.

    Parameters
    ----------
    latent_dim : int or None, default=None
        Size of the latent code. None picks 32.
    filters : tuple of int or None, default=None
        Filters of the encoder's stride-2 convolution stages (the decoder mirrors them). None scales them to the
        image size (:func:`anomaly_vae.network.conv_parts.default_filters`: (32, 64) for 28 x 28).
    dense_units : int, default=256
        Width of the dense layer between the convolutions and the latent code.
    beta : float, default=1.0
        Weight of the KL term in the training loss. The ``elbo`` score always uses the true ELBO.
    likelihood : {"gaussian", "heteroscedastic", "mse", "bernoulli"}, default="gaussian"
        Pixel distribution. The Gaussian learns one variance per pixel, so ink where normal images never have
        any costs much; it ranked one-class MNIST far better than Bernoulli (grey levels as soft targets) and
        the heteroscedastic Gaussian (``benchmarks/RESULTS.md``, "Images").
    score_rule : {"elbo", "reconstruction", "kl", "recon_prob", "iwae", "worst", "worst_region"}, \
            default="worst_region"
        What ``anomaly_score`` computes; see :data:`anomaly_vae.choices.SCORES`. ``worst`` (the sum of the highest pixel
        NLLs) ranked one-class MNIST better than the ELBO on every digit: an image is judged by what the
        model could not explain, not diluted by the background pixels every image shares. ``worst_region`` (the same
        on the map averaged over neighbourhoods) ranked it better still: an anomaly is a stroke, not a lone pixel.
    epochs : int or "auto", default="auto"
        Maximum number of training epochs. ``'auto'`` trains for about ``IMAGE_AUTO_STEPS`` gradient steps.
    batch_size : int, default=64
        Images per gradient step.
    learning_rate : float, default=1e-3
        Adam's step size (gradients are clipped to a global norm of 10).
    validation_fraction : float, default=0.1
        Share of the images held out to choose the early-stopping epoch.
    patience : int, "auto" or None, default="auto"
        Early-stopping patience (epochs) on the validation loss; ``'auto'`` is a tenth of the epochs (at least
        10); None trains all epochs.
    calibration_fraction, contamination, threshold, target_fpr
        How the threshold and the p-values are calibrated, as for :class:`~anomaly_vae.VAEAnomalyDetector`
        (defaults ``"auto"``, ``"auto"``, ``"quantile"``, 0.01), with images for rows.
    n_samples : int, default=16
        Latent draws averaged per image when scoring.
    kl_warmup : float in [0, 1), default=0.0
        Share of the epochs over which the KL weight ramps linearly from 0 to ``beta``.
    corruption_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the network's inputs in training (pixels in [0, 1]), while the
        loss scores the clean inputs: a denoising VAE (:meth:`denoise`). 0 trains on the inputs as they are.
    corruption_mask : float in [0, 1), default=0.0
        Share of the input entries hidden from the encoder in training, at random (set to 0), while the loss scores
        the clean inputs.
    data_parallel : bool, default=False
        Train with ``keras.distribution.DataParallel`` over every device (JAX only).
    precision : {"float32", "mixed_bfloat16"}, default="float32"
        Keras dtype policy of the network; the loss and the scores stay in float32.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the weights and the noise.
    verbose : int, default=0
        0 is silent, 1 shows one progress bar over the epochs, 2 prints a line per epoch.

    Attributes
    ----------
    vae_ : anomaly_vae.VAE
        The trained Keras model (:class:`~anomaly_vae.network.conv_parts.ConvEncoder` and ``ConvDecoder`` parts).
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the training images; every scored image must match it.
    n_features_in_ : int
        Pixels times channels of one image.
    history_, n_epochs_, training_plan_, validation_scores_, calibration_scores_, threshold_, offset_, threshold_rule_,
    target_fpr_, tail_, latent_mixture_
        As for :class:`~anomaly_vae.VAEAnomalyDetector`.

    Notes
    -----
    Input: an array of shape ``(n, height, width)`` (grey) or ``(n, height, width, channels)``, channels
    last, either ``uint8`` in 0-255 or float in [0, 1]. Anything else (NaN, values out of range, other
    integer types, one image of another size) is refused with a message naming the first offending image.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from anomaly_vae import VAEImageDetector
    >>> digits = load_digits()
    >>> images = digits.images / 16.0  # 8 x 8 grey levels in [0, 1]
    >>> det = VAEImageDetector(epochs=3, random_state=0).fit(images[digits.target == 0])
    >>> det.anomaly_map(images[:2]).shape
    (2, 8, 8)
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        "filters": [tuple, list, None],
        "dense_units": [Interval(Integral, 1, None, closed="left")],
    }
    _auto_steps = IMAGE_AUTO_STEPS
    # One step per compiled call: on JAX's CPU backend, convolutions inside the multi-step ``lax.scan`` ran
    # about 10-30 times slower than step by step (0.76 s a step against under 0.08 s at batch 64, 28 x 28, here).
    _steps_per_execution = 1

    def __init__(
        self,
        *,
        latent_dim=None,
        filters=None,
        dense_units=256,
        beta=1.0,
        likelihood="gaussian",
        score_rule="worst_region",
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
        self.latent_dim = latent_dim
        self.filters = filters
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

    # ------------------------------------------------------------------ hooks of BaseVAEDetector
    def _check_input(self, X, reset: bool) -> np.ndarray:
        images = check_images(X, min_images=2 if reset else 1)
        if reset:
            if self.filters is not None and not all(isinstance(f, Integral) and int(f) >= 1 for f in self.filters):
                raise ValueError(f"filters must be a sequence of positive integers, got {self.filters!r}.")
            self.image_shape_ = tuple(int(s) for s in images.shape[1:])
            self.n_features_in_ = int(np.prod(self.image_shape_))
        elif tuple(images.shape[1:]) != tuple(self.image_shape_):
            raise ValueError(
                f"The images are {_describe(images.shape[1:])}, but the detector was fitted on "
                f"{_describe(self.image_shape_)}."
            )
        return images

    def _build_vae(self, event_shape, n_train: int, seed: int):
        from anomaly_vae.network.conv_parts import ConvDecoder, ConvEncoder, default_filters, describe_conv
        from anomaly_vae.network.likelihoods import LIKELIHOODS
        from anomaly_vae.network.size_limits import check_network_size, conv_size  # the stages: ConvEncoder checks them
        from anomaly_vae.network.vae import VAE

        latent = self.latent_dim if self.latent_dim is not None else DEFAULT_IMAGE_LATENT
        filters = default_filters(*event_shape[:-1]) if self.filters is None else tuple(self.filters)
        check_network_size(
            conv_size(
                event_shape, filters, self.dense_units, latent, heads=len(LIKELIHOODS[self.likelihood].row_heads)
            ),
            min(self.batch_size, n_train),
            describe_conv(event_shape, filters, self.dense_units),
        )
        common = dict(
            latent_dim=latent, filters=self.filters, dense_units=self.dense_units, seed=seed, dtype=self.precision
        )
        encoder = ConvEncoder(tuple(event_shape), name="encoder", **common)
        decoder = ConvDecoder(
            tuple(event_shape),
            heads=LIKELIHOODS[self.likelihood].row_heads,
            name="decoder",
            seed_start=encoder.seeds_used,
            **common,
        )
        return VAE(
            encoder=encoder,
            decoder=decoder,
            latent_dim=latent,
            likelihood=self.likelihood,
            beta=self.beta,
            n_score_samples=self.n_samples,
            corruption_noise=self.corruption_noise,
            corruption_mask=self.corruption_mask,
            seed=seed,
            dtype=self.precision,
        )

    # -------------------------------------------------------------- images out
    def anomaly_map(self, X) -> np.ndarray:
        """Per-pixel reconstruction NLL of each image, ``(n, height, width)`` (summed over channels, averaged over the
        draws): bright regions are what the model could not explain. The ``worst_region`` score (the default) sums the
        highest values of the map averaged over neighbourhoods; a whole map plus the KL term is the ``elbo`` score."""
        _, maps = self.score_with_maps(X)
        return maps

    def score_with_maps(self, X) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`anomaly_score` and :meth:`anomaly_map` together, from one pass of the network."""
        scores, features = self._predict(self._prepare(X), features=True)
        return scores, features.sum(axis=-1)

    # ------------------------------------------------------------------ hooks of GenerativeMixin
    def _from_network(self, x: np.ndarray, like=None) -> np.ndarray:
        """Images in [0, 1] in the layout and range of ``like`` (``uint8`` 0-255 for ``uint8`` input; no channel
        axis if it had none); without ``like`` (sampled or decoded), float ``(n, height, width, channels)``."""
        images = np.clip(x, 0.0, 1.0)
        if like is None:
            return images
        raw = np.asarray(like)
        if raw.ndim == 3:
            images = images[..., 0]
        return np.round(images * 255).astype(np.uint8) if raw.dtype == np.uint8 else images

    def _one_example(self, a) -> np.ndarray:
        image = np.asarray(a)
        if image.shape in (tuple(self.image_shape_), tuple(self.image_shape_[:2])):
            return image[None]
        raise ValueError(
            f"interpolate takes one image of shape {tuple(self.image_shape_)} (or "
            f"{tuple(self.image_shape_[:2])} for grey images); got shape {image.shape}."
        )

    def latent_means(self, X) -> np.ndarray:
        """Posterior means ``z_mean`` of images ``X`` ``(n, latent_dim)``."""
        return self._latent_means(self._prepare(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


def check_images(X, min_images: int = 1) -> np.ndarray:
    """``X`` as float32 images ``(n, height, width, channels)`` in [0, 1], or ``ValueError`` naming the first
    offending image: the shape, the dtype (``uint8`` 0-255 or float in [0, 1]), NaN/inf and the range."""
    if isinstance(X, (list, tuple)) and X and len({np.shape(x) for x in X}) > 1:
        shapes = [np.shape(x) for x in X]
        bad = next(i for i, s in enumerate(shapes) if s != shapes[0])
        raise ValueError(f"Images must all have one size: image 0 is {shapes[0]} but image {bad} is {shapes[bad]}.")
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4 or X.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"Images must be an array of shape (n, height, width) or (n, height, width, channels) with "
            f"1-4 channels last; got shape {X.shape}."
        )
    if len(X) < min_images:
        raise ValueError(f"Found {len(X)} image(s) while a minimum of {min_images} is required.")
    if X.dtype == np.uint8:
        return X.astype(np.float32) / 255.0
    if X.dtype == np.bool_:
        return X.astype(np.float32)
    if X.dtype.kind not in "f":
        raise ValueError(
            f"Images must be uint8 (0-255) or float in [0, 1]; got dtype {X.dtype}. Convert them "
            f"first, for example X.astype('uint8') for 0-255 values."
        )
    per_image = X.reshape(len(X), -1)
    finite = np.isfinite(per_image)
    if not finite.all():
        i = int(np.argmin(finite.all(axis=1)))
        raise ValueError(
            f"Image {i} holds NaN or inf ({int((~finite).sum())} such values in all); the VAE cannot "
            "score missing pixels."
        )
    outside = (per_image < 0.0) | (per_image > 1.0)
    if outside.any():
        i = int(np.argmax(outside.any(axis=1)))
        raise ValueError(
            f"Image {i} has values outside [0, 1] (from {per_image[i].min():g} to {per_image[i].max():g}): "
            "pass uint8 images (0-255) or float images scaled to [0, 1]."
        )
    return X.astype(np.float32)


def _describe(shape) -> str:
    h, w, c = shape
    return f"{h} x {w} with {c} channel(s)"
