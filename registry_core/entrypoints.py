"""Finding a backend class for a URL's scheme through the `registry_core.backends` group."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from registry_core.backend import MetadataBackend
from registry_core.errors import InvalidInputError
from registry_core.urls import DatabaseURL, canonical_scheme, resolve_url, url_scheme

GROUP = "registry_core.backends"

# The built-in backends, also registered as entry points in pyproject.toml; used when the
# package runs from a source tree without installed metadata.
_BUILTIN = {
    "sqlite": "registry_core.backends.sqlite:SQLiteMetadataBackend",
    "postgresql": "registry_core.backends.postgresql:PostgreSQLMetadataBackend",
    "mysql": "registry_core.backends.mysql:MySQLMetadataBackend",
}


def backend_class(scheme: str) -> type[MetadataBackend]:
    """The class registered for `scheme`; InvalidInputError naming the known schemes if none."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if scheme not in found and scheme not in _BUILTIN:
        scheme = canonical_scheme(scheme)  # postgres://, mariadb://
    if scheme in found:
        cls = found[scheme].load()
    elif scheme in _BUILTIN:
        module, _, attr = _BUILTIN[scheme].partition(":")
        cls = getattr(import_module(module), attr)
    else:
        known = ", ".join(sorted(set(found) | set(_BUILTIN)))
        raise InvalidInputError(f"no backend for URL scheme {scheme!r}; known schemes: {known}")
    if not (isinstance(cls, type) and issubclass(cls, MetadataBackend)):
        raise InvalidInputError(f"entry point {scheme!r} of {GROUP} is not a MetadataBackend")
    return cls


def parse_backend_url(url: str) -> DatabaseURL:
    """`url` parsed by the backend that claims its scheme (`MetadataBackend.parse_url`), so
    that a third-party backend owns the form of its URLs. InvalidInputError for a malformed
    URL or an unknown scheme."""
    return backend_class(url_scheme(url)).parse_url(url)


def open_backend(url: str | None = None) -> MetadataBackend:
    """A connected backend for `url` (None: $MODEL_REGISTRY_URL, else ./registry.db).

    The schema is not touched; call `migrate()` or use `registry_core.connect`. The backend
    is picked by the URL's scheme among those registered under the entry-point group
    `registry_core.backends`, and parses the rest of the URL itself. Raises
    InvalidInputError (a malformed URL, an unknown scheme or option), MissingDriverError
    (the driver's extra is not installed) and BackendUnavailableError (the database cannot
    be reached).
    """
    raw = resolve_url(url)
    cls = backend_class(url_scheme(raw))
    return cls(raw)  # type: ignore[call-arg]
