"""Images: a folder of PNG/JPEG files (flat, or MVTec-style ``train/good`` and ``test/<kind>``) or an ``.npz`` array.

``VAEImageDetector`` is fitted on the training images; the model folder is an
:class:`~pipelines.modalities.images.bundle.ImageBundle`. Evaluation images: the ``test/`` part of an MVTec-style
folder, else ``--eval-data`` (a folder or a labelled ``.npz``); without either, the plots show the training images. A
labelled training ``.npz`` trains on its normal images only (``--normal-only``, the default). Scoring writes one row
per image and, with ``--maps``, each image's anomaly map (:mod:`~pipelines.modalities.images.score_files`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from pipelines.modalities.contract import Calibration, Modality, ScoredFile, TrainingData
from pipelines.modalities.images.bundle import ImageBundle

N_SHOWN = 8
"""Images in the reconstruction grid and in the anomaly-map overlays."""
N_SAMPLES = 16
"""Images in the fit run's grid of samples."""


def image_detector_params(settings) -> dict:
    """The detector options that were set, for ``VAEImageDetector``; a table-only option is refused by name."""
    from anomaly_vae import VAEImageDetector
    from pipelines.detector_options import flag, series_only_parameters

    params = settings.detector_params()
    allowed = set(VAEImageDetector().get_params())
    series_only = sorted(k for k in params if k in {p.name for p in series_only_parameters()})
    if series_only:
        raise ValueError(f"{', '.join(flag(k) for k in series_only)} apply to time series, not to images.")
    table_only = sorted(k for k in params if k not in allowed)
    if table_only:
        raise ValueError(f"{', '.join(flag(k) for k in table_only)} apply to tables, not to images.")
    return params


def describe(images: np.ndarray, where: str, layout: str) -> str:
    n, h, w, c = images.shape
    return f"Input: images ({layout}) from {where!r}: {n} images of {h} x {w} with {c} channel(s)"


class ImagesModality(Modality):
    name = "images"
    nouns = ("images", "image", "images")
    unit = "images"
    bundle_class = ImageBundle
    sample_suffixes = ()  # a folder of PNGs

    @classmethod
    def claims(cls, settings) -> bool:
        from pipelines.modalities.images.files import is_image_input

        return is_image_input(settings.data)

    def build_detector(self, settings):
        from anomaly_vae import VAEImageDetector

        return VAEImageDetector(**image_detector_params(settings))

    def read(self, settings, detector) -> TrainingData:
        from pipelines.modalities.images.files import read_images

        data = Path(settings.data)
        mvtec = data.is_dir() and (data / "train" / "good").is_dir()
        layout = (
            "MVTec layout: train/good to fit, test/<kind> to evaluate"
            if mvtec
            else ("a folder" if data.is_dir() else "an .npz array")
        )
        self.train = read_images(data, "train")
        if self.train.labels is not None and settings.normal_only:
            self.train.images = self.train.images[self.train.labels == 0]
        print(describe(self.train.images, settings.data, layout), file=sys.stderr)
        if len(self.train.images) < 2:
            raise ValueError(
                f"Need at least 2 normal training images; {settings.data!r} gives {len(self.train.images)}."
            )
        self.evaluation = (
            read_images(data, "test") if mvtec else (read_images(settings.eval_data) if settings.eval_data else None)
        )
        return TrainingData(
            len(self.train.images),
            {"image_shape": str(self.train.images.shape[1:]), "n_train_images": str(len(self.train.images))},
        )

    def fit(self, detector, callbacks: list):
        detector.fit(self.train.images, callbacks=callbacks)
        return ImageBundle(detector)

    def evaluate(self, bundle):
        from sklearn.metrics import average_precision_score, roc_auc_score

        from pipelines.modalities.images import plots as image_plots
        from pipelines.review import interactive, plots

        detector, evaluation = bundle.detector, self.evaluation
        metrics = {"n_train_images": float(len(self.train.images))}
        figures = {}
        shown = evaluation if evaluation is not None else self.train
        scores, maps = bundle.score_images(shown.images)
        labels = shown.labels if evaluation is not None else None
        if labels is not None and len(set(labels)) == 2:
            metrics.update(
                eval_roc_auc=float(roc_auc_score(labels, scores)),
                eval_average_precision=float(average_precision_score(labels, scores)),
            )
            figures["roc_pr_curves.png"] = plots.roc_pr_curves(labels, scores)
        if evaluation is not None:
            metrics["eval_anomaly_rate"] = float(np.mean(scores > detector.threshold_))
        title = "Evaluation scores" if evaluation is not None else "Training images' scores"
        figures["score_histogram.png"] = plots.score_histogram(
            scores, detector.threshold_, reference=detector.calibration_scores_, labels=labels, title=title
        )
        figures["score_histogram.html"] = interactive.score_histogram(
            scores, detector.threshold_, reference=detector.calibration_scores_, labels=labels, title=title
        )
        first = np.arange(min(N_SHOWN, len(shown.images)))
        figures["reconstructions.png"] = image_plots.reconstruction_grid(
            shown.images[first], detector.reconstruct(shown.images[first]), [shown.paths[i] for i in first]
        )
        worst = np.argsort(-scores)[:N_SHOWN]
        figures["samples.png"] = image_plots.sample_grid(
            detector.sample(N_SAMPLES, random_state=0, noise=False),
            title="Samples: latent codes drawn where the training images' codes lie, decoded (the decoder's mean)",
        )
        normal = int(np.argmin(scores))  # from the most normal image to the most anomalous
        a, b = shown.images[normal], shown.images[worst[0]]
        figures["interpolation.png"] = image_plots.interpolation_strip(
            detector.interpolate(a, b, n_steps=8),
            a,
            b,
            f"{shown.paths[normal]} (most normal)",
            f"{shown.paths[worst[0]]} (most anomalous)",
        )
        figures["anomaly_maps.png"] = image_plots.anomaly_map_overlays(
            shown.images[worst], maps[worst], scores[worst], detector.threshold_, [shown.paths[i] for i in worst]
        )
        return metrics, figures

    def model_example(self, bundle):
        return bundle.signature(), bundle.input_example(self.train.images[0])

    def check_score(self, settings) -> None:
        from pipelines.modalities.images.files import is_image_input

        if not is_image_input(settings.data):
            raise ValueError(
                f"{settings.model_uri!r} is an image model; DATA {settings.data!r} must be a folder of "
                "PNG/JPEG images or an .npz of images."
            )

    def score_file(self, settings, bundle) -> ScoredFile:
        from pipelines.modalities.images.score_files import score_images

        table, scores = score_images(settings, bundle)
        return ScoredFile(len(table), int(table["is_anomaly"].sum()), scores)

    def calibrate(self, bundle, path: str) -> Calibration:
        from pipelines.modalities.images.files import read_images

        found = read_images(path)
        images = found.images if found.labels is None else found.images[found.labels == 0]
        bundle.detector.set_threshold(images)
        return Calibration(bundle.signature(), bundle.input_example(images[0]))

    def write_samples(self, draws, output: Path, overwrite: bool) -> str:
        from PIL import Image

        from anomaly_vae.persistence.atomic import write_folder_atomically

        def write(tmp: Path) -> None:
            for start, images in draws:
                for i, image in enumerate(images, start=start):
                    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(tmp / f"sample_{i:07d}.png")

        write_folder_atomically(output, write, replace=overwrite)
        return "images"
