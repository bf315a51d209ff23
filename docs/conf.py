"""Sphinx configuration: builds offline (no intersphinx), Markdown pages via MyST,
API reference from the numpydoc docstrings.

    python -m sphinx -W -b html docs docs/_build/html
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ulmfit_sklearn  # noqa: E402

project = "ulmfit-sklearn"
author = "ulmfit-sklearn developers"
release = version = ulmfit_sklearn.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "numpydoc"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
myst_heading_anchors = 3
autodoc_member_order = "bysource"
suppress_warnings = ["myst.header"]
