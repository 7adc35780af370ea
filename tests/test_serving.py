"""The registered model served by MLflow's own model server answers as `anomaly-vae score` does."""

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.demo_data import DATA_DIR
from pipelines.fit import run_fit
from pipelines.score import run_score
from pipelines.serving import invoke, post, served_model
from pipelines.settings import FitSettings, ScoreSettings

pytestmark = pytest.mark.mlflow_server
TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"


@pytest.mark.slow
def test_served_model_scores_equal_the_score_command_and_bad_requests_get_a_4xx(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    import mlflow

    mlflow.MlflowClient(store).create_experiment("serve", artifact_location=str(tmp_path / "artifacts"))
    fitted = run_fit(
        FitSettings(
            data=str(TRAIN),
            label_column="label",
            epochs=2,
            verbose=0,
            tracking_uri=store,
            experiment="serve",
            output_dir=str(tmp_path / "out"),
            register="served",
            alias="live",
        )
    )
    assert fitted.tracking_error is None
    scored = tmp_path / "scores.csv"
    run_score(
        ScoreSettings(
            model_uri="models:/served@live", data=str(TEST), output=str(scored), tracking_uri=store, log_run=False
        )
    )
    expected = pd.read_csv(scored)
    test = pd.read_csv(TEST)
    with served_model("models:/served@live", store) as url:
        status, answer = invoke(url, test)
        assert status == 200
        served = pd.DataFrame(answer["predictions"])
        np.testing.assert_allclose(served["anomaly_score"], expected["anomaly_score"], rtol=1e-5, atol=1e-5)
        assert served["is_anomaly"].tolist() == expected["is_anomaly"].tolist()
        assert served["top_features"].tolist() == expected["top_features"].tolist()

        status, answer = invoke(url, test.drop(columns=["amount"]).head(5))
        assert 400 <= status < 500 and "amount" in answer.get("message", ""), (status, answer)

        columns = list(test.columns)
        row = test.head(1).astype(object).where(test.head(1).notna(), None).to_numpy().tolist()[0]
        bad = {
            "Infinity": [[float("inf") if c == "amount" else v for c, v in zip(columns, row)]],
            "no rows": [],
            "text in a number column": [["lots" if c == "amount" else v for c, v in zip(columns, row)]],
        }
        for case, rows in bad.items():  # 400 with the reason, never a server stack trace
            body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()
            status, answer = post(url, body)
            assert status == 400 and answer.get("message"), (case, status, answer)
            assert "stack_trace" not in answer and "Traceback" not in answer["message"], (case, answer)
            assert "Encountered an unexpected error" not in answer["message"], (case, answer)
            if case != "no rows":
                assert "amount" in answer["message"], (case, answer)

        status, answer = invoke(url, test.head(1))  # still answering after the bad request
        assert status == 200 and len(answer["predictions"]) == 1
