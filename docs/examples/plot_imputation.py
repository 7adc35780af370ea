"""
Imputation
==========

``VAEImputer`` fills missing numbers with the same VAE, trained on the incomplete table itself (the likelihood counts
only the observed entries, as in MIWAE). On scikit-learn's diabetes table with 30% of the entries hidden at random,
it is compared with the column mean and scikit-learn's ``IterativeImputer`` on the hidden entries, which none of them
saw. 100 epochs.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from anomaly_vae import VAEImputer

X = StandardScaler().fit_transform(load_diabetes().data)
rng = np.random.default_rng(0)
hidden = rng.random(X.shape) < 0.3
hidden[hidden.all(axis=1), 0] = False  # keep at least one value per row
X_missing = np.where(hidden, np.nan, X)

imputers = {
    "column mean": SimpleImputer(),
    "IterativeImputer": IterativeImputer(random_state=0),
    "VAEImputer": VAEImputer(epochs=100, random_state=0),
}
completed = {name: imputer.fit_transform(X_missing) for name, imputer in imputers.items()}
rmse = pd.Series({name: np.sqrt(np.mean((out[hidden] - X[hidden]) ** 2)) for name, out in completed.items()})
print("RMSE on the hidden entries (standardised units):")
print(rmse.round(3).to_string())

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), sharex=True, sharey=True)
for ax, (name, out) in zip(axes, completed.items()):
    ax.scatter(X[hidden], out[hidden], s=3, alpha=0.4)
    ax.plot([-3, 3], [-3, 3], color="k", lw=0.8)
    ax.set_title(f"{name}\nRMSE {rmse[name]:.3f}")
    ax.set_xlabel("hidden value")
axes[0].set_ylabel("imputed value")
fig.tight_layout()
