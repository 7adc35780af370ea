"""The main job (``make demo``): fit on the bundled data, score held-out data, print a summary; then the same
for images (scikit-learn's 8 x 8 digits, written as an MVTec-style folder by ``pipelines/demo_images.py``).

Everything is logged to the local SQLite store ``mlflow.db`` (or ``$MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.demo_data import DATA_DIR


def main() -> None:
    from pipelines.fit import run_fit
    from pipelines.score import run_score
    from pipelines.settings import FitSettings, ScoreSettings, load_settings
    from pipelines.tracking.mlflow_runs import tracking_uri
    from pipelines.tracking.run_identity import review_url

    train, test = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"
    fitted = run_fit(
        load_settings(
            FitSettings,
            None,
            dict(
                data=str(train),
                label_column="label",
                eval_data=str(test),
                register="anomaly-vae-demo",
                alias="champion",
                verbose=1,
            ),
        )
    )
    if fitted.tracking_error:
        raise SystemExit(f"MLflow tracking failed: {fitted.tracking_error}; the model is saved at {fitted.local_model}")
    output = Path("outputs") / "demo_scores.csv"
    scored = run_score(
        ScoreSettings(model_uri="models:/anomaly-vae-demo@champion", data=str(test), output=str(output), overwrite=True)
    )  # the demo's own output: a rerun replaces it
    labels = pd.read_csv(test)["label"]
    flagged_fdr = run_score(
        ScoreSettings(
            model_uri="models:/anomaly-vae-demo@champion",
            data=str(test),
            output=str(Path("outputs") / "demo_scores_fdr.csv"),
            fdr=0.05,
            log_run=False,
            overwrite=True,
        )
    )
    uri = tracking_uri()
    print("\n=== anomaly-vae demo: a table ===")
    print(f"fit run id:        {fitted.run_id}")
    print(f"model:             {fitted.model_uri}  (registered as models:/anomaly-vae-demo@champion)")
    print(
        f"threshold:         {fitted.threshold:.3f}  (1% false positives, set on "
        f"{fitted.metrics['n_calibration_rows']:.0f} held-out calibration rows; each row's p_value is in the scores)"
    )
    print(
        f"test ROC-AUC / AP: {fitted.metrics['eval_roc_auc']:.3f} / {fitted.metrics['eval_average_precision']:.3f}"
        "  (1.0 would rank every labelled anomaly above every normal row)"
    )
    print(
        f"scores file:       {scored.output}  ({scored.rows} rows; {scored.anomaly_rate:.1%} flagged by the threshold, "
        f"{labels.mean():.1%} labelled anomalies)"
    )
    print(
        f"false discoveries: {flagged_fdr.anomaly_rate * flagged_fdr.rows:.0f} rows flagged by Benjamini-Hochberg at "
        f"--fdr 0.05 ({flagged_fdr.output}): on average at most 5% of them normal"
    )
    print(f"score run id:      {scored.run_id}")
    print(
        "about the warnings: the drift check compares the test scores with the calibration scores; this test file is "
        f"{labels.mean():.0%} labelled anomalies, so it differs from normal rows on purpose (a file of normal rows would "
        "not warn). Unseen categories are test values that training never saw; they score as the least likely known one."
    )
    from pipelines.demo_images import write_digit_images

    images = write_digit_images(Path("outputs") / "digit_images")
    # 106 training zeros leave 10 to calibrate on: enough for a 10% false-positive rate, not for 1%.
    fitted_images = run_fit(load_settings(FitSettings, None, dict(data=str(images), verbose=1, target_fpr=0.1)))
    if fitted_images.tracking_error:
        raise SystemExit(f"MLflow tracking failed: {fitted_images.tracking_error}")
    maps = Path("outputs") / "digit_maps"
    scored_images = run_score(
        ScoreSettings(
            model_uri=fitted_images.model_uri or str(fitted_images.local_model),
            data=str(images),
            maps=str(maps),
            output=str(Path("outputs") / "digit_scores.csv"),
            overwrite=True,
        )
    )
    print("\n=== anomaly-vae demo: images (scikit-learn's 8 x 8 digits; normal: 0, anomalies: 1-9) ===")
    print(f"fit run id:        {fitted_images.run_id}   model: {fitted_images.model_uri}")
    print(
        f"test ROC-AUC / AP: {fitted_images.metrics['eval_roc_auc']:.3f} / "
        f"{fitted_images.metrics['eval_average_precision']:.3f}"
    )
    image_labels = pd.read_csv(scored_images.output)["label"]
    print(
        f"scores file:       {scored_images.output}  ({scored_images.rows} images, "
        f"{scored_images.anomaly_rate:.1%} flagged, {image_labels.mean():.1%} labelled anomalies); anomaly maps in {maps}"
    )
    print(
        f"threshold:         {fitted_images.threshold:.3f}  (10% false positives: the fit held out only "
        f"{fitted_images.metrics['n_calibration_rows']:.0f} zeros to calibrate on, too few to resolve 1%)"
    )
    print(
        "about the warning: the test folder is mostly other digits (anomalies), so its scores differ from the "
        "calibration zeros' on purpose."
    )
    print(f"\nopen the UI with:  .venv/bin/mlflow ui --backend-store-uri {uri}")
    print(
        f"then the table fit: {review_url(str(fitted.run_id))}  (MLflow's model-training pages, not its GenAI overview)"
    )


if __name__ == "__main__":
    main()
