"""The detectors: scikit-learn estimators around the ``VAE``.

- ``base_detector``: ``BaseVAEDetector``, the training loop, scoring, threshold and pickling every detector shares.
- ``table_detector``: ``VAEAnomalyDetector``, tables (its input checks, scaler and dense parts).
- ``image_detector``: ``VAEImageDetector``, images (convolutional parts, per-pixel anomaly maps).
- ``series_detector``, ``windows``: ``VAESeriesDetector``, time series as sliding windows, scores mapped back to points.
- ``imputer``: ``VAEImputer``, scikit-learn's imputer interface over a fitted VAE.
- ``scoring``: the anomaly score rules, computed in one compiled Keras function, in fixed-size batches.
"""
