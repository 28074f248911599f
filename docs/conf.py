"""Sphinx configuration of the repdyn documentation.

Build (from the repository root; warnings are errors, broken references included)::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

The gallery runs every script in ``examples/`` (about a minute each at most). CI may run a
subset: ``REPDYN_GALLERY=<regex>`` runs only the scripts whose path matches; the others are
listed with their code but without output (``REPDYN_GALLERY=none`` runs none).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "_ext"))

import repdyn  # noqa: E402  (the installed package; `pip install -e ".[docs]"`)

project = "repdyn"
author = "the repdyn authors"
copyright = "2026, the repdyn authors"
release = repdyn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "repdyn_docs",
]

smartquotes = False           # keep "--quick" and quotes in code-like prose as typed
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_data", "_ext", "Thumbs.db", ".DS_Store",
                    "examples/*.ipynb", "examples/*.py", "examples/*.zip", "examples/*.json",
                    "examples/*.md5", "examples/*.pickle", "examples/sg_execution_times.rst"]
templates_path = ["_templates"]

# ----------------------------------------------------------------------------- API reference
# The modules documented in the API reference: the one list to edit when a module moves.
# An entry may be a tuple of alternative names (the first that is importable is used), so a
# move in progress does not break the build. Every name in a module's ``__all__`` gets a page
# (re-exports link to the defining module); every name of ``repdyn._API`` must be covered.
repdyn_api_modules = [
    ("Theory: MDPs and spectra", [
        "repdyn.analysis.mdp",
        "repdyn.analysis.spectral",
        "repdyn.analysis.propagator",
    ]),
    ("Theory: closed forms and derivations", [
        "repdyn.analysis.closed_form",
        "repdyn.analysis.symbolic",
        "repdyn.analysis.symbolic_limits",
        "repdyn.analysis.value_improvement",
        "repdyn.analysis.update_kernel",
    ]),
    ("Property testing", [
        "repdyn.analysis.strategies",
    ]),
    ("Simulation and neural probes", [
        "repdyn.kernels.flows",
        "repdyn.analysis.span_tracking",
        "repdyn.kernels.probes",
        "repdyn.kernels.nn",
        "repdyn.kernels.optim",
        "repdyn.kernels.infer",
        "repdyn.kernels.agent",
    ]),
    ("Claims, checks and experiments", [
        "repdyn.proofs.registry",
        "repdyn.proofs.experiments",
    ]),
    ("Front end: figures, experiments, analyse, sweep studies", [
        "repdyn.figures",
        "repdyn.experiments",
        "repdyn.store",
        "repdyn.analyse",
        "repdyn.studies",
    ]),
    ("Errors and helpers", [
        "repdyn.analysis.errors",
        "repdyn.analysis.jsonable",
    ]),
]

autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"          # numpydoc sections carry the types
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# No intersphinx (the build must work offline): references to numpy, scipy, sympy,
# hypothesis, matplotlib and the standard library stay plain text.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|scipy|sympy|sp|hypothesis|matplotlib|numba|dask|torch)(\..*)?"),
    (r"py:.*", r"(ndarray|array_like|array-like|Generator|Matrix|Expr|Symbol|Rational|"
               r"SearchStrategy|callable|optional|int|float|bool|str|dict|list|tuple|None|"
               r"object|Exception|ValueError|TypeError|RuntimeError|TimeoutError|Path|"
               r"os\.PathLike|typing\..*|collections\..*|dataclasses\..*)"),
]

# ----------------------------------------------------------------------------- MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# ----------------------------------------------------------------------------- gallery
_gallery = os.environ.get("REPDYN_GALLERY", "")
sphinx_gallery_conf = {
    "examples_dirs": os.path.join(ROOT, "examples"),
    "gallery_dirs": "examples",
    "filename_pattern": (r"$^" if _gallery == "none" else (_gallery or r"/")),
    "ignore_pattern": r"(__init__|_helpers)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": "True",
}

# ----------------------------------------------------------------------------- plots, doctest
plot_include_source = True
plot_working_directory = ROOT      # plots read benchmarks/results/*.json
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
doctest_global_setup = "import numpy as np"

# ----------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"repdyn {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
