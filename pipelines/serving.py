"""Serving a registered model over HTTP with MLflow's own model server, for tests and benchmarks.

The documented command (README, "Scaling out") is

    mlflow models serve -m models:/NAME@ALIAS --env-manager local --host 127.0.0.1 --port 5000

:func:`served_model` runs exactly that in a child process, waits until ``/ping`` answers, and stops it
afterwards; :func:`invoke` posts a DataFrame as MLflow's ``dataframe_split`` JSON to ``/invocations``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_model(model_uri: str, tracking_uri: str, port: int | None = None, timeout: float = 180.0, workers: int = 1):
    """``mlflow models serve`` of ``model_uri`` on 127.0.0.1; yields the base URL."""
    port = port or free_port()
    bin_dir = str(Path(sys.executable).parent)  # uvicorn, started by MLflow, lives beside this Python
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    log = open(os.devnull, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"`{' '.join(cmd)}` exited with {proc.returncode} before serving.")
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.time() > deadline:
                    raise TimeoutError(f"the model server did not answer on {url} within {timeout:.0f} s") from None
                time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


def invoke(url: str, frame: pd.DataFrame, timeout: float = 120.0) -> tuple[int, dict]:
    """POST ``frame`` to ``url/invocations`` as ``dataframe_split``; the HTTP status and the JSON answer."""
    body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}).encode()
    return post(url, body, timeout)


def post(url: str, body: bytes, timeout: float = 120.0) -> tuple[int, dict]:
    """POST the JSON ``body`` to ``url/invocations``; the HTTP status and the JSON answer."""
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
