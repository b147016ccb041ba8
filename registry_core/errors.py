"""The exceptions registry-core raises; every one is a RegistryError."""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error registry-core raises."""


class NotFoundError(RegistryError, LookupError):
    """A model, version, tag or alias that does not exist."""


class AlreadyExistsError(RegistryError):
    """A unique name, key or number is already taken."""


class InvalidInputError(RegistryError, ValueError):
    """An argument the registry refuses (empty name, NUL character, too long, bad URL...)."""


class BackendUnavailableError(RegistryError):
    """The database cannot be reached, did not answer within `call_timeout`, or refused the
    work (too many connections, a lock timeout); nothing of the call was committed unless
    it is an OutcomeUnknownError. Retrying later may succeed."""


class OutcomeUnknownError(BackendUnavailableError):
    """The connection was lost after COMMIT was sent and the registry could not find out, on a
    new connection, whether the change was made. A save that raises this keeps its file (an
    unreferenced file is what `registry-core fsck --repair` removes; a version without its file
    would be lost data)."""


class ReadOnlyError(BackendUnavailableError):
    """The server accepts only reads: a streaming standby (during a failover, or a URL that
    names it alone), a server in read-only mode (MySQL `read_only`/`super_read_only`), or a
    session or role whose transactions are read-only. A write sent there changed nothing."""


class PermissionDeniedError(RegistryError):
    """The database user lacks a privilege the call needs (a read-only role writing,
    PostgreSQL SQLSTATE 42501, MySQL 1142/1044...). Nothing was changed."""


class SchemaOutOfDateError(RegistryError):
    """The database schema is older than this library and migrate=False was asked (the
    message names the command to run: `registry-core migrate`), or the registry's tables
    went away under an open registry (another process downgraded the schema)."""


class MigrationError(RegistryError):
    """A migration could not be applied, or the migration history is inconsistent.

    `reason` is "dirty" (a migration failed part-way), "changed" (an applied file was edited)
    or None.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class ArtifactMissingError(NotFoundError):
    """A version's file is not in the artifact store: the message names the version and path."""


class ArtifactStoreError(RegistryError):
    """The artifact store failed: a file system or object storage error (permissions, network,
    a full disk, missing credentials). The storage library's exception is the `__cause__`."""


class ChecksumMismatchError(RegistryError):
    """A stored model file does not match the size or sha256 recorded for it."""


class MissingDriverError(RegistryError, ImportError):
    """The database driver for a URL's scheme (or the storage library of an artifact store's
    scheme, `store=True`) is not installed; says which extra to install."""

    def __init__(self, backend: str, extra: str, module: str, *, store: bool = False) -> None:
        what = f"the {backend} artifact store" if store else f"the {backend} backend"
        kind = "package" if store else "driver"
        super().__init__(
            f"{what} needs the '{module}' {kind}; install it with "
            f"pip install 'registry-core[{extra}]'"
        )
        self.extra = extra
