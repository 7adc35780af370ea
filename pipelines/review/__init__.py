"""The review figures a fit or score run logs, whatever the modality.

- ``plots``: matplotlib figures (training curves, score histograms, ROC/PR curves, latent view, feature scores).
- ``interactive``: their Plotly twins as self-contained HTML pages.
- ``calibration_report``: the threshold's realised false-positive rates over folds, as metrics, a figure and a line.
"""
