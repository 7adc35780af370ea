"""
Explaining a score
==================

A row's anomaly score is a sum over its features' reconstruction negative log-likelihoods plus the KL term, so it
can be taken apart: ``feature_scores`` says how much each feature contributed. Here three features follow one
another closely; an anomalous row keeps every value in its usual range but breaks that dependency, which a per-column
range check would miss. 30 epochs.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from anomaly_vae import VAEAnomalyDetector

rng = np.random.default_rng(0)
x = rng.normal(size=3000)
normal = pd.DataFrame(
    {
        "load": x + 0.1 * rng.normal(size=x.size),
        "power": 2 * x + 0.1 * rng.normal(size=x.size),
        "heat": -x + 0.1 * rng.normal(size=x.size),
        "noise": rng.normal(size=x.size),
    }
)
rows = pd.DataFrame(
    [[0.5, 1.0, -0.5, 0.0], [0.5, -1.0, -0.5, 0.0]],  # the second: power has the wrong sign for this load
    columns=normal.columns,
    index=["normal row", "broken dependency"],
)
det = VAEAnomalyDetector(epochs=30, random_state=0).fit(normal)
print(det.anomaly_score(rows).round(2), "threshold", round(det.threshold_, 2))

# %%
# The per-feature scores (a DataFrame, one column per feature) put the blame on ``power``.
contributions = det.feature_scores(rows)
print(contributions.round(2))
ax = contributions.T.plot.bar(figsize=(7, 3.5), rot=0)
ax.set_ylabel("reconstruction NLL")
ax.set_title("What each feature contributed to the score")
plt.tight_layout()
