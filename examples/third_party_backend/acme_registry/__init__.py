"""acme-registry: registry-core's metadata in a local file behind `acme://` URLs.

An example of a third-party backend: it reuses registry-core's SQL layer on SQLite (as a
backend for another SQL database would, with a Dialect of its own) and owns its URL form,
`acme:///relative.db` or `acme:////absolute/path.db`, which the built-in parser would refuse.
Registered under the entry-point group `registry_core.backends` (see pyproject.toml).
"""

from __future__ import annotations

from registry_core.backends.sqlite import SQLiteMetadataBackend
from registry_core.errors import InvalidInputError
from registry_core.urls import DatabaseURL, url_scheme

__all__ = ["AcmeMetadataBackend"]


class AcmeMetadataBackend(SQLiteMetadataBackend):
    """`acme:///relative.db` or `acme:////absolute/path.db`: a file of its own."""

    name = "acme"
    # every optional feature, as the SQL layer gives them (a backend that lacks one leaves it
    # out, and the contract suite skips its tests with the reason)
    capabilities = SQLiteMetadataBackend.capabilities

    @classmethod
    def parse_url(cls, url: str) -> DatabaseURL:
        """`acme:///relative.db` -> "relative.db", `acme:////abs/path.db` -> "/abs/path.db"
        (registry-core hands this backend every URL of the schemes it is registered for)."""
        scheme = url_scheme(url)
        path = url.split("://", 1)[1].partition("?")[0]
        if not path.startswith("/") or path == "/":
            raise InvalidInputError(
                f"{scheme} URLs are {scheme}:///relative.db or {scheme}:////abs/path.db"
            )
        return DatabaseURL(scheme=scheme, database=path[1:])
