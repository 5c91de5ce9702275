"""Sphinx configuration of the skdigitnet documentation.

Build (offline, warnings are errors)::

    pip install ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery runs every ``examples/plot_*.py`` during the build; they use only the digits
bundled with scikit-learn. Links into the NumPy, SciPy, scikit-learn and matplotlib
documentation need the network, so they are off unless ``SKDIGITNET_DOCS_INTERSPHINX=1``.
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the checkout's skdigitnet, also without pip install -e

import skdigitnet  # noqa: E402

# The examples show the bundled digits only: never MNIST files that happen to be on the
# build machine (plot_what_the_network_learned.py reads MNIST when this is set).
os.environ.pop("SKDIGITNET_DATA", None)
os.environ.setdefault("MPLBACKEND", "Agg")


def _write_cli_help():
    """``python -m skdigitnet [command] --help`` into generated/cli/, for command_line.rst."""
    import contextlib
    import io

    from skdigitnet._cli.main import main

    folder = DOCS / "generated" / "cli"
    folder.mkdir(parents=True, exist_ok=True)
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal's width
    try:
        for command in ("", "train", "predict", "inspect", "serve"):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
                main([command, "--help"] if command else ["--help"])
            path = folder / f"{command or 'skdigitnet'}.txt"
            if not path.exists() or path.read_text() != buffer.getvalue():
                path.write_text(buffer.getvalue())  # rewritten only when changed
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


_write_cli_help()

# -- Project -------------------------------------------------------------------------

project = "skdigitnet"
author = "the skdigitnet developers"
copyright = "the skdigitnet developers, BSD-3-Clause"  # noqa: A001
version = release = skdigitnet.__version__

REPOSITORY = "https://github.com/skdigitnet/skdigitnet"
DOCS_URL = "https://skdigitnet.readthedocs.io/en/stable/"

# -- General -------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "generated/*.examples",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
default_role = "literal"
toc_object_entries_show_parents = "hide"  # "On this page": fit(), not DigitMLPClassifier.fit()
root_doc = "index"

# -- autodoc, autosummary, numpydoc --------------------------------------------------

autosummary_generate = True
autosummary_imported_members = True
# The docstrings state the types in numpydoc's words; the annotations would repeat them
# with the package's private aliases.
autodoc_typehints = "none"
# What the API pages of module-level data say (templates/autosummary/data.rst): a
# variable has no docstring of its own.
autosummary_context = {
    "data_docs": {
        "ACTIVATIONS": (
            "The registry of hidden-layer activations: a dict from each name that "
            "``activation=`` accepts to its :class:`Activation` subclass, which is called "
            "with no arguments to make the activation. :func:`register_activation` adds "
            "names; see :ref:`activations`."),
        "__version__": "The version of skdigitnet, a str.",
    },
    "data_without_value": ["ACTIVATIONS"],  # its value is a dict of classes
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False



def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out the ``set_{method}_request`` methods that scikit-learn's metadata routing
    adds to every estimator: their docstrings point into scikit-learn's own user guide."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


#: ``:ref:`text <label>```, ``:ref:`label```, ``:term:`...``` and ``:doc:`...``` roles.
_ROLE = re.compile(r":(?:ref|term|doc):`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")


def _offline_sklearn_references(app, what, name, obj, options, lines):
    """The methods our estimators inherit from scikit-learn (``score``, ``set_output``,
    ...) refer to labels and glossary terms of scikit-learn's own documentation. Without
    intersphinx those do not exist here: keep the text, drop the link."""
    if INTERSPHINX or not (getattr(obj, "__module__", None) or "").startswith("sklearn"):
        return

    def text(match):
        if match[1] is not None:
            return match[1]
        target = match[2]
        return "scikit-learn's documentation" if target.startswith("sphx_glr") else target

    lines[:] = [_ROLE.sub(text, line) for line in lines]


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("autodoc-process-docstring", _offline_sklearn_references)


# -- matplotlib's plot directive (the user guide's pictures) -------------------------

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.dpi": 100, "savefig.bbox": "tight"}

# -- sphinx-gallery ------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "doc_module": ("skdigitnet",),
    "backreferences_dir": "generated",
    "inspect_global_variables": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "min_reported_time": 1,
    "show_memory": False,
    "abort_on_example_error": False,  # report every failing example, then fail the build
    "only_warn_on_example_error": False,
}

# -- HTML ----------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skdigitnet {release}"
html_show_sourcelink = False
html_theme_options = {
    "icon_links": [
        {"name": "GitHub", "url": REPOSITORY, "icon": "fa-brands fa-github"},
    ],
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # code blocks and "On this page" fit their columns
html_baseurl = DOCS_URL

# -- Optional: links into other projects' documentation (needs the network) ----------

INTERSPHINX = os.environ.get("SKDIGITNET_DOCS_INTERSPHINX") == "1"
if INTERSPHINX:
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
        "pandas": ("https://pandas.pydata.org/docs/", None),
    }
