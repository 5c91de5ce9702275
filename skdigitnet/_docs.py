"""Where the documentation lives: the link behind the "?" of an estimator's HTML repr.

scikit-learn's ``_get_doc_link`` fills ``{estimator_module}`` (the package up to its first
private module: "skdigitnet") and ``{estimator_name}`` into an estimator's
``_doc_link_template`` when its class's top-level module is ``_doc_link_module``. The API
reference (docs/api.rst) has one page per public name at
``generated/skdigitnet.<name>.html``.
"""

DOCS_URL = "https://skdigitnet.readthedocs.io/en/stable/"
DOC_LINK_MODULE = "skdigitnet"
DOC_LINK_TEMPLATE = DOCS_URL + "generated/{estimator_module}.{estimator_name}.html"
