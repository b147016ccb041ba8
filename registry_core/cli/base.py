"""What every command shares: exit codes, usage errors, the parser class and the options many
commands take, and `Context`, which finds the database URL and opens a registry or a backend on
it without ever creating a SQLite file (only `migrate` may)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from registry_core.backend import MetadataBackend
from registry_core.entrypoints import open_backend, parse_backend_url
from registry_core.errors import MigrationError, NotFoundError, RegistryError, SchemaOutOfDateError
from registry_core.registry import ModelRegistry, connect
from registry_core.urls import ARTIFACTS_ENV, URL_ENV, DatabaseURL, resolve_url

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING, EXIT_DIRTY, EXIT_CHANGED = 0, 1, 2, 3, 4, 5
EXIT_PROBLEMS = 6  # fsck found missing or changed files, or debris it did not remove
EXIT_NOT_FOUND = 7  # NotFoundError: no such model, version, alias or tag
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # stdout closed by the reader (128 + SIGPIPE)


class UsageError(RegistryError):
    """The command line asks for something that cannot be done as written (exit 2).
    `details` go into the JSON error object beside "error"."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class NoRegistryError(RegistryError):
    """A SQLite URL names a file that does not exist (exit 1); nothing was created."""


class ArgumentError(Exception):
    """argparse found bad usage; run() reports it as text or JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises ArgumentError instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentError(self, message)


def exit_code(exc: RegistryError) -> int:
    """The exit code of a command that raised `exc`."""
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, SchemaOutOfDateError):
        return EXIT_PENDING
    reason = exc.reason if isinstance(exc, MigrationError) else None
    return {"dirty": EXIT_DIRTY, "changed": EXIT_CHANGED}.get(reason or "", EXIT_FAILED)


class Options:
    """The parent parsers of options that several commands take."""

    def __init__(self) -> None:
        #: --url and --json (a table for people otherwise)
        self.common = Parser(add_help=False)
        self.common.add_argument("--url", help=f"connection string (default: ${URL_ENV})")
        self.common.add_argument(
            "--json",
            action="store_true",
            help='print JSON instead of a table (errors too: an {"error": ...} object on stdout)',
        )
        #: --json alone (copy names its two databases itself)
        self.json = Parser(add_help=False)
        self.json.add_argument(
            "--json",
            action="store_true",
            help='print JSON instead of text (errors too: an {"error": ...} object on stdout)',
        )
        #: --artifacts, for the commands that touch files
        self.files = Parser(add_help=False)
        self.files.add_argument(
            "--artifacts",
            metavar="PATH|URL",
            help="the artifact store: a folder, or an s3://, gs://, az://, abfs://, memory:// or "
            f"file:// URL (default: ${ARTIFACTS_ENV}, else where the registry recorded its "
            "files, else a folder of its own: <name>-artifacts/ beside a SQLite file, "
            "./artifacts/<backend>-<host>-<port>-<database>-<id> for a server database)",
        )


def missing_file(url: DatabaseURL) -> bool:
    """Whether `url` is a SQLite file that does not exist (opening it would create it)."""
    return url.scheme == "sqlite" and not url.is_memory and not Path(url.database).exists()


class Context:
    """One command's database: the URL from --url, else $MODEL_REGISTRY_URL, else the
    default, and what it opens there. Remembers the secrets of every URL it parsed, which
    `run` scrubs from any error message."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.secrets: list[str] = []
        self._url: tuple[str, DatabaseURL] | None = None

    def parse(self, url: str) -> DatabaseURL:
        """`url` parsed, its secrets remembered."""
        parsed = parse_backend_url(url)
        self.secrets += parsed.secrets()
        return parsed

    @property
    def url(self) -> str:
        """The database URL as given (with its password)."""
        return self._resolved()[0]

    @property
    def parsed(self) -> DatabaseURL:
        return self._resolved()[1]

    def _resolved(self) -> tuple[str, DatabaseURL]:
        if self._url is None:
            url = resolve_url(getattr(self.args, "url", None))
            self._url = (url, self.parse(url))
        return self._url

    def require_existing(self) -> None:
        """NoRegistryError if the URL is a SQLite file that does not exist, before anything
        opens it (opening would create the file and its folder)."""
        if missing_file(self.parsed):
            raise NoRegistryError(
                f"no registry at {self.parsed.database}: the file does not exist (nothing was "
                "created; `registry-core migrate` creates a registry)"
            )

    @contextmanager
    def registry(self) -> Iterator[ModelRegistry]:
        """The registry, connected without migrating (SchemaOutOfDateError if it is behind)."""
        self.require_existing()
        artifacts = getattr(self.args, "artifacts", None)
        actor = getattr(self.args, "actor", None)
        with connect(self.url, artifacts=artifacts, migrate=False, actor=actor) as reg:
            yield reg

    @contextmanager
    def backend(self, *, create: bool = False) -> Iterator[Any]:
        """The backend alone, the schema untouched; `create=True` (migrate) may create a
        SQLite file."""
        if not create:
            self.require_existing()
        backend: MetadataBackend = open_backend(self.url)
        with backend:
            yield backend


def parse_time(text: str) -> datetime:
    """A command line time: ISO-8601, with a zone (a date alone, or a time without a zone,
    is UTC)."""
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
