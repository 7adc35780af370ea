"""Demo images built from scikit-learn's bundled 8 x 8 digits, in the MVTec AD layout (nothing downloaded).

``write_digit_images(folder)``: the normal class is digit 0; ``train/good`` holds 60% of the zeros (shuffled
with a seed), ``test/good`` the rest, and ``test/digit_<d>`` up to ``per_anomaly`` images of each other digit
(the anomalies). Grey levels 0-16 are scaled to 0-255 and saved as PNG (lossless).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NORMAL_DIGIT = 0


def write_digit_images(folder: str | Path, per_anomaly: int = 20, seed: int = 0, replace: bool = True) -> Path:
    """Write the demo images into ``folder`` atomically; an existing folder is replaced only with ``replace``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from anomaly_vae.persistence.atomic import write_folder_atomically

    digits = load_digits()
    pixels = np.round(digits.images * 255 / 16).astype(np.uint8)
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(digits.target == NORMAL_DIGIT))
    n_train = int(0.6 * len(normal))
    parts = {"train/good": normal[:n_train], "test/good": normal[n_train:]}
    for d in sorted(set(digits.target) - {NORMAL_DIGIT}):
        parts[f"test/digit_{d}"] = rng.permutation(np.flatnonzero(digits.target == d))[:per_anomaly]

    def write(tmp: Path) -> None:
        for part, indices in parts.items():
            (tmp / part).mkdir(parents=True)
            for i in indices:
                Image.fromarray(pixels[i]).save(tmp / part / f"{i:04d}.png")

    return write_folder_atomically(folder, write, replace=replace)


if __name__ == "__main__":
    import sys

    from anomaly_vae.persistence.atomic import FolderExistsError

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/digit_images")
    try:  # a folder given on the command line is never replaced: it may be someone else's
        written = write_digit_images(target, replace=False)
    except FolderExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {written}: train/good (normal zeros) and test/<kind> (anomalies: the other digits)")
