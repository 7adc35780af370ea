"""MLflow: runs, their names and descriptions, and the logged model.

- ``mlflow_runs``: the store, a run that never loses the model when tracking fails (``SafeRun``), per-epoch
  metrics, plots, the fit record and the pyfunc model.
- ``run_identity``: what a run is called and tagged, the experiment, and the review link.
- ``model_description``: the Markdown description of a fitted model (run, logged model, registered version).
"""
