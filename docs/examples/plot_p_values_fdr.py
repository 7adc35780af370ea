"""
p-values and false-discovery control
====================================

A detector's p-value for a row is the share of held-out calibration rows that score at least as high. On normal rows
p-values are uniform, so flagging ``p <= a`` flags about a share ``a`` of them; Benjamini-Hochberg (``predict_fdr``)
instead bounds the share of *flagged* rows that are normal. This example checks both on fresh data where we know
which rows are anomalies. 20 epochs; 20% of the training rows calibrate.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from anomaly_vae import VAEAnomalyDetector

rng = np.random.default_rng(0)
cov = 0.7 * np.ones((6, 6)) + 0.3 * np.eye(6)
normal = rng.multivariate_normal(np.zeros(6), cov, size=5000)
det = VAEAnomalyDetector(epochs=20, calibration_fraction=0.2, random_state=0).fit(normal)

fresh = rng.multivariate_normal(np.zeros(6), cov, size=4000)
anomalies = rng.multivariate_normal(np.zeros(6), np.eye(6) * 1.5, size=200)  # the correlations broken
X = np.vstack([fresh, anomalies])
is_anomaly = np.r_[np.zeros(len(fresh), bool), np.ones(len(anomalies), bool)]
p = det.p_values(X)

# %%
# Normal rows' p-values are close to uniform; anomalies' pile up near zero.
fig, ax = plt.subplots(figsize=(7, 3.2))
bins = np.linspace(0, 1, 41).tolist()
ax.hist(p[~is_anomaly], bins=bins, density=True, alpha=0.7, label="normal rows")
ax.hist(p[is_anomaly], bins=bins, density=True, alpha=0.7, label="anomalies")
ax.set_xlabel("p-value")
ax.set_ylabel("density")
ax.legend()
fig.tight_layout()

# %%
# At each level, the false-discovery proportion (normal rows among the flagged) stays near or below the level,
# while the false-positive rate of ``p <= level`` is the level itself.
rows = []
for level in (0.01, 0.05, 0.1, 0.2):
    flagged = det.predict_fdr(X, fdr=level) == -1
    rows.append(
        {
            "level": level,
            "BH: flagged": int(flagged.sum()),
            "BH: false-discovery proportion": (flagged & ~is_anomaly).sum() / max(1, flagged.sum()),
            "BH: anomalies found": flagged[is_anomaly].mean(),
            "p <= level: false-positive rate": (p[~is_anomaly] <= level).mean(),
        }
    )
table = pd.DataFrame(rows).round(3)
print(table.to_string(index=False))
