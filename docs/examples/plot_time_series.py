"""
A time series
=============

A noisy periodic signal with three kinds of anomaly in its second half: a spike, a level shift and a stretch where
the period changes. ``VAESeriesDetector`` learns the windows of the normal first half and gives every time point a
score. 10 epochs.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from anomaly_vae import VAESeriesDetector
from anomaly_vae.evaluation.series_metrics import vus_pr

rng = np.random.default_rng(0)
t = np.arange(4000)
series = np.sin(2 * np.pi * t / 50) + 0.1 * rng.normal(size=t.size)
labels = np.zeros(t.size, dtype=int)
series[2600:2605] += 3.0  # a spike
labels[2600:2605] = 1
series[3000:3100] += 1.0  # a level shift
labels[3000:3100] = 1
series[3500:3600] = np.sin(2 * np.pi * t[3500:3600] / 20) + 0.1 * rng.normal(size=100)  # a faster period
labels[3500:3600] = 1

det = VAESeriesDetector(window=64, epochs=10, random_state=0).fit(series[:2000])
scores = det.anomaly_score(series[2000:])
print(f"VUS-PR on the second half: {vus_pr(labels[2000:], scores, max_buffer=128):.3f}")

# %%
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
top.plot(t[2000:], series[2000:], lw=0.6)
top.fill_between(t[2000:], series.min(), series.max(), where=labels[2000:] == 1, color="C3", alpha=0.2)
top.set_ylabel("value")
bottom.plot(t[2000:], scores, lw=0.8, color="C1")
bottom.axhline(det.threshold_, color="k", ls="--", label="threshold")
bottom.set_ylabel("anomaly score")
bottom.set_xlabel("time")
bottom.legend(loc="upper left")
fig.tight_layout()
