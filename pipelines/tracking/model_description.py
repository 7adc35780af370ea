"""What a reviewer reads first about a fitted model: the decision it makes and what it was trained on.

One Markdown text, written by the fit pipelines as the run's description (MLflow's run overview), the logged
model's and each registered version's description, so the threshold, its rule and target, the calibration size,
the training data and the evaluation figures are on the page a reviewer opens, not only in the parameters.
"""

from __future__ import annotations

from anomaly_vae.choices import SCORE_MEANINGS


def resolved_params(detector) -> dict[str, str]:
    """``resolved.<name>`` run parameters: the network and schedule ``fit`` built, every ``auto`` resolved
    (:attr:`~anomaly_vae.VAEAnomalyDetector.training_plan_`), and the decision it set."""
    plan = dict(getattr(detector, "training_plan_", {}))
    if not plan.get("hidden_units"):
        plan.pop("hidden_units", None)  # image and series networks: their parts have no dense widths
    plan.update(
        threshold=f"{detector.threshold_:.6g}",
        threshold_rule=detector.threshold_rule_,
        target_fpr=detector.target_fpr_,
        n_calibration_scores=len(detector.calibration_scores_),
    )
    return {f"resolved.{k}": str(v) for k, v in plan.items()}


def describe(
    detector, modality, data: str, metrics: dict, eval_data: str | None = None, run_id: str | None = None
) -> str:
    """The Markdown description of a fitted detector (see the module docstring); ``modality`` names its nouns
    (:attr:`pipelines.modalities.contract.Modality.nouns`)."""
    from pipelines.tracking.run_identity import data_name

    kind, one, trained = modality.nouns
    plan = getattr(detector, "training_plan_", {})
    split = ""
    if plan:
        split = (
            f" ({plan['n_train']:,} trained on, {plan['n_validation']:,} for early stopping, "
            f"{plan['n_calibration']:,} held out for calibration)"
            if plan["n_calibration"]
            else f" ({plan['n_train']:,} trained on, {plan['n_validation']:,} for early stopping and calibration)"
        )
    n_seen = sum(plan.get(k, 0) for k in ("n_train", "n_validation", "n_calibration"))
    lines = [
        f"**VAE anomaly detector for {kind}**, fitted on `{data_name(data)}`"
        + (f": {n_seen:,} {trained}{split}." if plan else ".")
    ]
    rule, target = detector.threshold_rule_, detector.target_fpr_
    n_cal = len(detector.calibration_scores_)
    score = (
        f"its anomaly score ({detector.score_rule}: {SCORE_MEANINGS[detector.score_rule]}; higher is more anomalous)"
    )
    if detector.threshold_ == float("inf"):
        lines.append(
            f"**Decision:** nothing is flagged: the {rule} rule cannot reach a false-positive rate of "
            f"{target:g} with {n_cal:,} calibration scores; p-values still rank new {one}s."
        )
    else:
        lines.append(
            f"**Decision:** a {one} is flagged when {score} is above **{detector.threshold_:.4g}**, "
            f"set by the **{rule}** rule for a false-positive rate of **{target:g}** on **{n_cal:,}** "
            "calibration scores; p-values come from the same scores."
        )
    if plan:
        net = f"latent size {plan['latent_dim']}"
        if plan.get("n_members", 1) > 1:
            net += f", {plan['n_members']} members averaged"
        if plan.get("hidden_units"):
            net += ", hidden layers " + "-".join(map(str, plan["hidden_units"]))
        lines.append(
            f"**Network:** {net}, {plan['n_weights']:,} weights. **Training:** {plan['epochs_run']} of "
            f"{plan['epochs']} planned epochs ({plan['steps_per_epoch']} steps of {plan['batch_size']}), "
            f"weights of epoch {plan['epoch_kept']} kept (lowest {plan['monitor']})."
        )
    if plan.get("n_known_anomalies"):
        lines.append(
            f"**Known anomalies:** {plan['n_known_anomalies']:,} {trained} labelled anomalous were trained to score "
            f"high (`use_labels`); early stopping and the threshold used normal {trained} only."
        )
    if "eval_roc_auc" in metrics:
        lines.append(
            f"**Evaluation** on `{data_name(eval_data or data)}`: ROC-AUC {metrics['eval_roc_auc']:.3f}, "
            f"average precision {metrics['eval_average_precision']:.3f}"
            + (f", {metrics['eval_anomaly_rate']:.1%} flagged." if "eval_anomaly_rate" in metrics else ".")
        )
    lines.append(
        f"**Score new data:** `anomaly-vae score runs:/{run_id or '<run id>'}/model DATA OUTPUT` (or a "
        "registered version, `models:/NAME@ALIAS`, or the local model folder)."
    )
    return "\n\n".join(lines)
