"""Connection strings: parsing, defaults from the environment, and masking of passwords."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from registry_core.errors import InvalidInputError

URL_ENV = "MODEL_REGISTRY_URL"
ARTIFACTS_ENV = "MODEL_REGISTRY_ARTIFACTS"
DEFAULT_URL = "sqlite:///registry.db"
MEMORY = ":memory:"

_SCHEME_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}
#: query options whose values are secrets (libpq's password/sslpassword, mysql's passwd...)
_SECRET_OPTION = ("password", "passwd", "secret", "token")


def _is_secret_option(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_OPTION)


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed connection string. `str()` and `repr()` never show the password."""

    scheme: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str = ""
    options: dict[str, str] = field(default_factory=dict)
    #: every (host, port) of the URL, in its order: one, or several in libpq's multi-host
    #: form (`h1:5432,h2:5433`, HA PostgreSQL); `host`/`port` are the first
    hosts: tuple[tuple[str, int | None], ...] = ()

    @property
    def is_memory(self) -> bool:
        """True for `sqlite://:memory:`."""
        return self.scheme == "sqlite" and self.database == MEMORY

    def masked(self) -> str:
        """The URL with the password replaced by `***`, safe for messages and logs."""
        return self._render(mask=True)

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a message: the password and secret options,
        raw and percent-encoded."""
        values = [self.password] if self.password else []
        values += [v for k, v in self.options.items() if _is_secret_option(k) and v]
        return tuple({form for v in values for form in (v, quote(v, safe=""))})

    def _render(self, *, mask: bool) -> str:
        if self.scheme == "sqlite":
            base = f"sqlite://{self.database}" if self.is_memory else f"sqlite:///{self.database}"
        else:
            auth = ""
            if self.username is not None:
                auth = quote(self.username, safe="")
                if self.password is not None:
                    auth += ":" + ("***" if mask else quote(self.password, safe=""))
                auth += "@"
            hostport = ",".join(
                _host_text(host) + ("" if port is None else f":{port}")
                for host, port in (self.hosts or ((self.host or "", self.port),))
            )
            base = f"{self.scheme}://{auth}{hostport}/{self.database}"
        if self.options:
            base += "?" + "&".join(
                f"{k}={'***' if mask and _is_secret_option(k) else quote(v, safe='')}"
                for k, v in self.options.items()
            )
        return base

    def __str__(self) -> str:
        return self.masked()


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def resolve_url(url: str | None) -> str:
    """The URL to use: the argument, else $MODEL_REGISTRY_URL, else the embedded SQLite file."""
    if url is None:
        url = os.environ.get(URL_ENV) or DEFAULT_URL
    return url


def url_scheme(url: str) -> str:
    """The scheme of a connection string, lower-cased, as written (`postgres`, `acme`...),
    without parsing the rest (a registered backend parses its own URLs); InvalidInputError if
    `url` is not a URL."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInputError(
            "a connection string looks like sqlite:///registry.db, "
            "postgresql://user:pw@host:5432/db or mysql://user:pw@host:3306/db"
        )
    return url.split("://", 1)[0].lower()


def canonical_scheme(scheme: str) -> str:
    """The built-in scheme another spelling means (`postgres` -> `postgresql`, `mariadb` ->
    `mysql`); any other scheme unchanged."""
    return _SCHEME_ALIASES.get(scheme, scheme)


def parse_url(url: str) -> DatabaseURL:
    """Parse a connection string of the built-in backends (sqlite, postgresql, mysql); raises
    InvalidInputError (without the password) if malformed."""
    scheme = canonical_scheme(url_scheme(url))
    if scheme == "sqlite":
        return _parse_sqlite(url)
    # Neither the URL nor urllib's message is echoed: a password with an unencoded '/', '#'
    # or '?' would show in either.
    # The error is raised outside the `except`: `from None` hides urllib's exception from
    # tracebacks but keeps it as __context__, and its text quotes the password.
    parts, hosts, malformed = None, None, False
    try:
        parts = urlsplit(url)
        hosts = _hosts(parts.netloc.rpartition("@")[2])
    except ValueError:
        malformed = True
    if malformed or parts is None or hosts is None:
        raise InvalidInputError(
            f"malformed {scheme} connection string (is a special character in the password "
            "not percent-encoded? '/' is %2F, '@' is %40, '#' is %23, '?' is %3F)"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database or "@" in database:
        raise InvalidInputError(
            f"{scheme} connection string names no database, or its password has an "
            "unencoded '/' (write it as %2F)"
        )
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    username, password = None, None
    if userinfo is not None:
        user, colon, pw = userinfo.partition(":")
        username, password = unquote(user), (unquote(pw) if colon else None)
    first_host, first_port = hosts[0] if hosts else ("", None)
    return DatabaseURL(
        scheme=scheme,
        username=username,
        password=password,
        host=first_host or None,
        port=first_port,
        database=database,
        options=options,
        hosts=hosts if any(h or p for h, p in hosts) else (),
    )


def _hosts(netloc_hosts: str) -> tuple[tuple[str, int | None], ...]:
    """The (host, port) pairs of a URL's host part, one or a comma-separated list as libpq
    takes them (`h1:5432,[::1]:5433,h3`); hosts lower-cased as urllib does. ValueError (whose
    text is never shown: it may hold a password) if one is malformed."""
    out: list[tuple[str, int | None]] = []
    items = netloc_hosts.split(",")
    for item in items:
        if not item and len(items) > 1:
            raise ValueError("empty host in a list")
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError("bad IPv6 host")
            port_text = rest[1:]
        else:
            host, _, port_text = item.partition(":")
        port = None
        if port_text:
            if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
                raise ValueError("bad port")
            port = int(port_text)
        out.append((unquote(host).lower(), port))
    return tuple(out)


def _host_text(host: str) -> str:
    """A host as written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _parse_sqlite(url: str) -> DatabaseURL:
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    if rest in (MEMORY, "/" + MEMORY):
        return DatabaseURL(scheme="sqlite", database=MEMORY, options=options)
    if not rest.startswith("/") or rest == "/":
        # not echoed: a server URL whose scheme was changed to sqlite carries its password
        raise InvalidInputError(
            "SQLite URLs are sqlite:///relative.db, sqlite:////abs/path.db or sqlite://:memory:"
            " (a host or user in a sqlite URL is not allowed)"
        )
    # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
    return DatabaseURL(scheme="sqlite", database=unquote(rest[1:]), options=options)


def default_artifacts(
    url: DatabaseURL, artifacts: str | os.PathLike[str] | None, registry_id: str | None = None
) -> str | os.PathLike[str]:
    """Where model files go when nothing was recorded: the argument (a path or URL), else
    $MODEL_REGISTRY_ARTIFACTS, else a folder of the registry's own.

    With the registry's id (a registry made since schema 006, or one without files yet): a
    folder `<name>-artifacts/` beside a SQLite file `<name>.db`, a temporary folder for
    `sqlite://:memory:`, else `./artifacts/<backend>-<host>-<port>-<database>-<id>` for a
    server database (two registries in one database, in two schemas, get two). Without it
    (the rules before 0.2, for a registry whose files are already somewhere): `artifacts/`
    beside a SQLite file, `./artifacts` for `sqlite://:memory:`, else
    `./artifacts/<backend>-<host>-<port>-<database>`."""
    if artifacts is not None:
        return artifacts
    env = os.environ.get(ARTIFACTS_ENV)
    if env:
        return env
    if registry_id is None:
        return earlier_defaults(url)[0]
    if url.is_memory:
        return Path(tempfile.gettempdir()) / f"registry-core-{registry_id}"
    if url.scheme == "sqlite":
        database = Path(url.database)
        return database.parent / f"{database.stem}-artifacts"
    return Path("artifacts") / f"{server_folder(url)}-{_UNSAFE.sub('', registry_id)[:8]}"


def earlier_defaults(url: DatabaseURL) -> list[Path]:
    """Where releases before 0.2 put a registry's files by default, newest rule first:
    `artifacts/` beside a SQLite file (`./artifacts` for `:memory:`); for a server database
    `./artifacts/<backend>-<host>-<port>-<database>`, and before that `./artifacts`."""
    if url.scheme == "sqlite":
        return [Path("artifacts") if url.is_memory else Path(url.database).parent / "artifacts"]
    return [Path("artifacts") / server_folder(url), Path("artifacts")]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


#: the port a server URL without one means
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
#: host spellings of this machine (and none: a local socket)
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1"}


def server_folder(url: DatabaseURL) -> str:
    """The default artifact folder name of a server database, e.g.
    `postgresql-db.example.com-5432-registry` (never the user or password). The spellings of
    one server give one name: the default port filled in, and this machine's names (none, a
    socket, `localhost`, `127.0.0.1`, `::1`) all `localhost`; a host named once by name and
    once by address still gets two (pass `artifacts=` to be sure)."""
    servers = sorted(
        {_server_spelling(url, host, port) for host, port in (url.hosts or ((url.host, url.port),))}
    )  # a cluster's hosts in any order (HA URLs) are one folder
    parts = [url.scheme, *(part for pair in servers for part in pair), url.database]
    return "-".join(_UNSAFE.sub("_", p).strip("._") or "_" for p in parts)


def _server_spelling(url: DatabaseURL, host: str | None, port: int | None) -> tuple[str, str]:
    name = (host or "").lower()
    if name in _LOCAL_HOSTS or name.startswith("/"):
        name = "localhost"
    return name, str(port or DEFAULT_PORTS.get(url.scheme, 0))


_INVALID: Any = object()


def take_options(options: dict[str, str], spec: dict[str, type], *, backend: str) -> dict[str, Any]:
    """Removes the options `spec` names from `options` and converts them (int, float, bool,
    str); InvalidInputError naming the option for a value that does not convert."""
    out: dict[str, Any] = {}
    for key, kind in spec.items():
        if key not in options:
            continue
        raw = options.pop(key)
        try:
            if kind is bool:
                lowered = raw.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(raw)
                out[key] = lowered in ("1", "true", "yes", "on")
            else:
                out[key] = kind(raw)
        except ValueError:
            out[key] = _INVALID
        if out[key] is _INVALID:  # raised outside the except, so no __context__ (see above)
            shown = "***" if _is_secret_option(key) else repr(raw)
            raise InvalidInputError(f"{backend} URL option {key}={shown} must be {kind.__name__}")
    return out


#: options registry-core itself reads on the server backends
POOL_OPTIONS: dict[str, type] = {"pool_size": int, "pool_timeout": float, "call_timeout": float}
