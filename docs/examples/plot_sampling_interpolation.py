"""
Sampling and interpolation
==========================

A VAE is a generative model. Fitted on scikit-learn's 8 x 8 digits (all ten classes), it draws new digits from
where the training images' codes lie (a Gaussian mixture fitted to them), and decodes the straight line between two
images' codes. ``noise=False`` shows the decoder's means, the usual picture of a VAE's samples. 40 epochs.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from anomaly_vae import VAEImageDetector

digits = load_digits()
images = digits.images / 16.0
det = VAEImageDetector(epochs=40, latent_dim=8, target_fpr=0.1, random_state=0).fit(images)

samples = det.sample(16, random_state=0, noise=False)  # (16, 8, 8, 1)
path = det.interpolate(images[0], images[1], n_steps=8)  # a 0 morphing into a 1

fig, axes = plt.subplots(3, 8, figsize=(8, 3.4))
for i, ax in enumerate(axes[:2].ravel()):
    ax.imshow(samples[i, ..., 0], cmap="gray", vmin=0, vmax=1)
for i, ax in enumerate(axes[2]):
    ax.imshow(path[i], cmap="gray", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].set_title("samples", loc="left")
axes[2, 0].set_title("interpolation", loc="left")
fig.tight_layout()
