"""``python -m pipelines COMMAND ...``: the ``anomaly-vae`` command line without the installed script."""

import sys

from pipelines.cli import app

sys.exit(app(prog_name="python -m pipelines"))
