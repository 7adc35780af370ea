"""
Tables with mixed types and missing values
==========================================

The bundled purchases table has six numeric columns (some with missing cells) and two categorical ones. The
``anomaly-vae fit`` pipeline does the preprocessing below for you; in Python, a scikit-learn ``ColumnTransformer``
does it, and ``categorical_groups`` tells the detector which one-hot columns belong together, so each categorical
column gets a categorical (softmax) likelihood instead of being modelled as numbers. 40 epochs.
"""

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from anomaly_vae import VAEAnomalyDetector

data = Path("../../data") if Path("../../data").is_dir() else Path("data")
train = pd.read_csv(data / "transactions_train.csv")
test = pd.read_csv(data / "transactions_test.csv")
train = train[train.label == 0].drop(columns="label")  # fit on normal rows only
labels = test.pop("label").to_numpy()
print(train.head())
print("missing cells per column:", train.isna().sum().to_dict())

# %%
# Numbers are imputed with their median (an indicator column says which were missing) and scaled; categories are
# one-hot encoded, and a category never seen in training becomes all zeros.
numeric = train.select_dtypes("number").columns.tolist()
categorical = [c for c in train.columns if c not in numeric]
prep = ColumnTransformer(
    [
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ]
)
X_train = prep.fit_transform(train)
X_test = prep.transform(test)
encoder = prep.named_transformers_["cat"]
start = X_train.shape[1] - sum(len(c) for c in encoder.categories_)
groups, offset = [], start
for categories in encoder.categories_:
    groups.append(list(range(offset, offset + len(categories))))
    offset += len(categories)
print("one-hot groups:", groups)

# %%
det = VAEAnomalyDetector(categorical_groups=groups, epochs=40, random_state=0).fit(X_train)
scores = det.anomaly_score(X_test)
print(f"ROC-AUC {roc_auc_score(labels, scores):.3f}, AP {average_precision_score(labels, scores):.3f}")

# %%
# The anomalous rows' scores sit far above the normal rows'; the threshold was set on held-out normal rows.
fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(scores.min(), np.quantile(scores, 0.99), 60).tolist()
ax.hist(scores[labels == 0], bins=bins, alpha=0.7, label="normal test rows")
ax.hist(scores[labels == 1], bins=bins, alpha=0.7, label="labelled anomalies")
ax.axvline(det.threshold_, color="k", linestyle="--", label="threshold (1% false positives)")
ax.set_xlabel("anomaly score (negative ELBO)")
ax.set_ylabel("rows")
ax.legend()
fig.tight_layout()
