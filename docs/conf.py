"""Sphinx configuration of registry-core's documentation (`tox -e docs` builds it)."""

from __future__ import annotations

import sys
from pathlib import Path

import registry_core

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "registry-core"
author = "registry-core contributors"
copyright = "2026, registry-core contributors"
release = registry_core.__version__
version = release

extensions = [
    "myst_parser",  # pages in Markdown (MyST), like the README they came from
    "sphinx.ext.autodoc",  # the API reference, from the docstrings
    "sphinx.ext.doctest",  # the pages' examples run as tests (sphinx-build -b doctest)
    "registry_docs",  # docs/_ext: {api-rest}, {cli-reference} and the build checks
]
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# Markdown: anchors for ## and ### headings, so pages link to each other's sections
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

# `name` in a docstring refers to a Python object (a link when it resolves, code otherwise)
default_role = "py:obj"
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True, "undoc-members": True}
autoclass_content = "class"
# the modules whose __all__ must be documented, every name (docs/_ext/registry_docs.py)
registry_api_modules = ["registry_core", "registry_core.testing"]

# Examples run in a temporary folder of their own, one per page, with none of the
# MODEL_REGISTRY_* variables of the environment that builds the docs (offline, on SQLite).
doctest_global_setup = """
import os as _os
import sys as _sys
import tempfile as _tempfile
import types as _types

# A class an example defines must pickle like one of a real module: the page's namespace is
# served as the module `docs_page`, which pickle finds in sys.modules.
class _DocsPage(_types.ModuleType):
    def __getattr__(self, name, _globals=globals()):
        try:
            return _globals[name]
        except KeyError:
            raise AttributeError(name) from None

__name__ = "docs_page"
_sys.modules["docs_page"] = _DocsPage("docs_page")

_docs_saved_env = {
    _k: _os.environ.pop(_k) for _k in list(_os.environ) if _k.startswith("MODEL_REGISTRY_")
}
_docs_saved_cwd = _os.getcwd()
_docs_tmp = _tempfile.TemporaryDirectory(prefix="registry-core-docs-")
_os.chdir(_docs_tmp.name)
_os.environ["MODEL_REGISTRY_CACHE"] = _os.path.join(_docs_tmp.name, ".cache")
"""
doctest_global_cleanup = """
del _sys.modules["docs_page"]
_os.chdir(_docs_saved_cwd)
_docs_tmp.cleanup()
_os.environ.pop("MODEL_REGISTRY_CACHE", None)
_os.environ.update(_docs_saved_env)
"""
doctest_test_doctest_blocks = ""  # >>> lines run only inside {doctest} directives

html_theme = "furo"
html_title = f"registry-core {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
pygments_style = "tango"
pygments_dark_style = "monokai"
