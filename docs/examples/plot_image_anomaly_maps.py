"""
Images with anomaly maps
========================

scikit-learn's 8 x 8 digits: the detector learns zeros only, then scores every digit. Each pixel's reconstruction
negative log-likelihood, the anomaly map, shows where the model could not explain the image; an image's score is
the sum of its map's worst-explained regions (the map averaged over 5 x 5 neighbourhoods, the highest tenth). 30
epochs.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from anomaly_vae import VAEImageDetector

digits = load_digits()
images = digits.images / 16.0  # grey levels in [0, 1]
zeros = np.flatnonzero(digits.target == 0)
train, held_out = zeros[:120], zeros[120:]
det = VAEImageDetector(epochs=30, target_fpr=0.1, random_state=0).fit(images[train])

test = np.concatenate([held_out, np.flatnonzero(digits.target != 0)])
scores = det.anomaly_score(images[test])
print(f"ROC-AUC, zeros against every other digit: {roc_auc_score(digits.target[test] != 0, scores):.3f}")

# %%
# The most normal held-out zero and four anomalous digits, above their anomaly maps (one colour scale).
shown = [held_out[np.argmin(det.anomaly_score(images[held_out]))]] + [
    np.flatnonzero(digits.target == d)[0] for d in (1, 3, 7, 8)
]
maps = det.anomaly_map(images[shown])
fig, axes = plt.subplots(2, len(shown), figsize=(8, 3.6))
for i, index in enumerate(shown):
    axes[0, i].imshow(images[index], cmap="gray")
    axes[0, i].set_title(f"digit {digits.target[index]}\nscore {det.anomaly_score(images[[index]])[0]:.1f}")
    axes[1, i].imshow(maps[i], cmap="magma", vmin=0, vmax=maps.max())
for ax in axes.ravel():
    ax.set_axis_off()
fig.tight_layout()
