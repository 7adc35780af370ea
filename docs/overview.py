"""Compose the landing page's picture (``docs/_static/overview.png``, also shown by README.md) from three figures
the gallery drew at the last ``make docs``: a table's scores, an image's anomaly maps and a series' scores.

    python docs/overview.py      # after make docs; commit the new picture
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DOCS = Path(__file__).resolve().parent
FIGURES = {
    "A mixed-type table: scores of normal rows and anomalies": "sphx_glr_plot_mixed_types_001.png",
    "Images: where each digit's score comes from": "sphx_glr_plot_image_anomaly_maps_001.png",
    "A time series: a score per point": "sphx_glr_plot_time_series_001.png",
}


def main() -> None:
    images = DOCS / "auto_examples" / "images"
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), gridspec_kw={"width_ratios": [1.0, 1.1, 1.3]})
    for ax, (title, name) in zip(axes, FIGURES.items()):
        ax.imshow(plt.imread(images / name))
        ax.set_title(title, fontsize=11)
        ax.set_axis_off()
    fig.tight_layout()
    out = DOCS / "_static" / "overview.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
