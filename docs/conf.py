"""Sphinx configuration of the anomaly-vae documentation (``make docs``).

The site is built with warnings as errors and nitpicky cross-references (the Makefile passes ``-W -n``), so a name
that no longer exists fails the build. Nothing is fetched from the internet: no intersphinx, no remote images.
The gallery (``docs/examples``) is executed at build time on torch, the fastest backend for these small networks on
a CPU.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import anomaly_vae  # noqa: E402

project = "anomaly-vae"
author = "the anomaly-vae developers"
copyright = "2026, the anomaly-vae developers"
release = version = anomaly_vae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinxcontrib.typer",
    "generated_tables",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples/README.txt", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]
html_static_path = ["_static"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The API reference: one page per public name, from its numpydoc docstring; type hints stay out of the signatures
# (the docstrings say the types in words, and hints such as ``pd.DataFrame`` would need intersphinx, which needs the
# internet).
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Names from other projects, or private to ours, that the docstrings mention but this site does not document.
nitpick_ignore_regex = [
    (r"py:.*", r"(keras|numpy|np|pandas|pd|sklearn|scipy|mlflow|torch|jax|tensorflow|skops|pyspark)(\..*)?"),
    (r"py:.*", r"anomaly_vae\..*\._\w+.*"),
]

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "min_reported_time": 0,
    "show_memory": False,
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("anomaly_vae",),
}

html_theme = "pydata_sphinx_theme"
html_title = f"anomaly-vae {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
toc_object_entries_show_parents = "hide"
