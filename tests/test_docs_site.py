"""The documentation site: its API reference covers the public names, the notebook HTML
repr of every estimator links to that reference, and the gallery's examples are in shape.

Building the site itself (``python -m sphinx -W --keep-going -b html docs
docs/_build/html``) is a step of CI, not a test: it runs every example.
"""

import ast
import pathlib
import re

import pytest
from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline

import skdigitnet
from skdigitnet import DigitMLPClassifier, DigitNormalizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api.rst"
EXAMPLES = ROOT / "examples"
SITE = "https://skdigitnet.readthedocs.io/en/stable/"
BUILD = "python -m sphinx -W --keep-going -b html docs docs/_build/html"

#: Every public estimator: the classes of ``__all__`` that are scikit-learn estimators.
ESTIMATORS = sorted(
    (obj for obj in (getattr(skdigitnet, name) for name in skdigitnet.__all__)
     if isinstance(obj, type) and issubclass(obj, BaseEstimator)),
    key=lambda cls: cls.__name__)


def _autosummary_entries():
    """{name: toctree folder} of every entry of the autosummary tables in api.rst."""
    entries = {}
    for block in re.split(r"^\.\. ", API.read_text(), flags=re.MULTILINE)[1:]:
        head, *lines = block.splitlines()
        if head.strip() != "autosummary::":
            continue
        options = {}
        for line in lines:
            if not line.strip():
                continue
            if not line.startswith("   "):
                break
            option = re.fullmatch(r"\s+:(\w+):\s*(.*)", line)
            if option:
                options[option[1]] = option[2].strip()
            else:
                entries[line.strip()] = options.get("toctree")
    return entries


def test_estimators_are_found():
    assert {DigitMLPClassifier, DigitNormalizer} <= set(ESTIMATORS)


def test_every_public_name_has_a_page_in_the_api_reference():
    entries = _autosummary_entries()
    missing = sorted(set(skdigitnet.__all__) - set(entries))
    assert not missing, f"docs/api.rst lacks an autosummary entry for {missing}"
    unknown = sorted(set(entries) - set(skdigitnet.__all__))
    assert not unknown, f"docs/api.rst lists names that skdigitnet.__all__ lacks: {unknown}"
    # one page each, in the folder the estimators' doc links point to
    assert set(entries.values()) == {"generated/"}


@pytest.mark.parametrize("estimator_class", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_html_repr_links_to_the_api_page(estimator_class):
    estimator = estimator_class()
    url = f"{SITE}generated/skdigitnet.{estimator_class.__name__}.html"
    assert estimator._get_doc_link() == url
    assert f'href="{url}"' in estimator._repr_html_()


def test_pipeline_html_repr_links_each_step():
    html = make_pipeline(DigitNormalizer(), DigitMLPClassifier())._repr_html_()
    for name in ("DigitNormalizer", "DigitMLPClassifier"):
        assert f'href="{SITE}generated/skdigitnet.{name}.html"' in html


def test_a_subclass_elsewhere_gets_no_link_to_our_docs():
    class Mine(DigitMLPClassifier):  # a user's subclass, in a module that is not ours
        pass

    Mine.__module__ = "my_project.models"
    assert Mine()._get_doc_link() == ""


def test_the_template_matches_the_generated_page_path():
    from skdigitnet._docs import DOC_LINK_TEMPLATE

    page = "generated/skdigitnet.DigitMLPClassifier.html"
    assert DOC_LINK_TEMPLATE.format(estimator_module="skdigitnet",
                                    estimator_name="DigitMLPClassifier") == SITE + page
    assert "generated/" in (DOCS / "conf.py").read_text()  # backreferences beside the pages


@pytest.mark.parametrize("script", sorted(EXAMPLES.glob("plot_*.py")), ids=lambda p: p.name)
def test_examples_are_gallery_pages(script):
    """A title in the docstring, ``# %%`` cells, and only the bundled digits."""
    source = script.read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring is not None, "a gallery example starts with its docstring"
    title = docstring.strip().splitlines()
    assert len(title) >= 3 and set(title[0]) == {"="} and set(title[2]) == {"="}, (
        "the docstring starts with a title between two lines of '='")
    assert re.search(r"^# %%$", source, flags=re.MULTILINE), "no '# %%' cells"
    assert "load_digits" in source
    # MNIST only when SKDIGITNET_DATA asks for it, which the docs build removes
    for call in re.finditer(r"load_mnist\(", source):
        before = source[:call.start()]
        assert "SKDIGITNET_DATA" in before, f"{script.name} reads MNIST unasked"
    for forbidden in ("fetch_openml", "urlopen", "requests."):
        assert forbidden not in source


def test_gallery_header_and_docs_conf():
    assert (EXAMPLES / "GALLERY_HEADER.rst").is_file()
    conf = (DOCS / "conf.py").read_text()
    assert 'os.environ.pop("SKDIGITNET_DATA", None)' in conf
    # intersphinx needs the network, so it is opt-in
    assert 'os.environ.get("SKDIGITNET_DOCS_INTERSPHINX") == "1"' in conf


def test_readme_and_ci_build_the_docs_with_the_same_command():
    assert f'pip install ".[docs]" && {BUILD}' in (ROOT / "README.md").read_text()
    assert BUILD in (ROOT / ".ci" / "run").read_text()
    assert BUILD in (DOCS / "install.rst").read_text()
