"""``benchmarks/speed.py --compare``: each figure against its bound and the previous release; exit 1 on a broken bound."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def compare(table: pd.DataFrame, path: Path) -> subprocess.CompletedProcess:
    table.to_csv(path, index=False)
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--compare", str(path)],
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard
        check=False,
    )


def test_met_bounds_exit_0_and_a_slower_figure_is_named_as_worse(tmp_path):
    previous = pd.read_csv(ROOT / "benchmarks" / "speed_previous.csv")
    table = previous.assign(ttfr_s=[9.9, 14.0, 9.0], pyod_speedup=[9.0, 5.5, 5.1], big_peak_rss_mib=1500.0)
    result = compare(table, tmp_path / "good.csv")
    assert result.returncode == 0, result.stdout
    assert "every bound met" in result.stdout
    assert "[jax] time to first result (s): 9.9 (bound <= 10: ok; previous 8, WORSE by 24%)" in result.stdout  # noise?
    assert "[torch] time to first result (s): 9 (bound <= 10: ok; previous 18.5)" in result.stdout


def test_a_broken_bound_exits_1_naming_the_backend_and_figure(tmp_path):
    previous = pd.read_csv(ROOT / "benchmarks" / "speed_previous.csv")
    table = previous.assign(
        big_peak_rss_mib=[1500.0, 1600.0, 2600.0], ttfr_s=[9.0, 14.0, 9.0], pyod_speedup=[9.0, 5.5, 5.1]
    )
    result = compare(table, tmp_path / "bad.csv")
    assert result.returncode == 1, result.stdout
    assert (
        "[torch] peak RSS scoring 10M rows (MiB): 2600 (bound <= 2048: BOUND BROKEN; previous 1853, WORSE by 40%)"
        in result.stdout
    )
