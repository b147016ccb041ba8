"""registry-core: model registry metadata on SQLite, PostgreSQL or MySQL.

import registry_core
with registry_core.connect() as reg:          # ./registry.db, or $MODEL_REGISTRY_URL
    v = reg.save_model(model, "churn", tags={"team": "growth"})
    same = reg.load_model("churn", v.version)
"""

from registry_core.backend import MetadataBackend
from registry_core.backends.mysql import MySQLMetadataBackend
from registry_core.backends.postgresql import PostgreSQLMetadataBackend
from registry_core.backends.sqlite import SQLiteMetadataBackend
from registry_core.entrypoints import open_backend
from registry_core.errors import (
    AlreadyExistsError,
    ArtifactMissingError,
    ArtifactStoreError,
    BackendUnavailableError,
    ChecksumMismatchError,
    InvalidInputError,
    MigrationError,
    MissingDriverError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ReadOnlyError,
    RegistryError,
    SchemaOutOfDateError,
)
from registry_core.fsck import VerifyReport
from registry_core.migrator import MigrationStatus
from registry_core.records import (
    DatabaseStats,
    Event,
    ExportedAlias,
    ExportedModel,
    ExportedVersion,
    ImportResult,
    Model,
    ModelVersion,
    Page,
    RegistryStats,
)
from registry_core.registry import ModelRegistry, connect
from registry_core.transfer import CopyProgress, CopyRefusedError, CopyReport, copy_registry

#: the installed version (PEP 440; ".devN": the release it leads to is not out yet), the
#: newest entry of docs/changelog.md
__version__ = "0.2.0.dev0"

__all__ = [
    "AlreadyExistsError",
    "ArtifactMissingError",
    "ArtifactStoreError",
    "BackendUnavailableError",
    "ChecksumMismatchError",
    "CopyProgress",
    "CopyRefusedError",
    "CopyReport",
    "DatabaseStats",
    "Event",
    "ExportedAlias",
    "ExportedModel",
    "ExportedVersion",
    "ImportResult",
    "InvalidInputError",
    "MetadataBackend",
    "MigrationError",
    "MigrationStatus",
    "MissingDriverError",
    "Model",
    "ModelRegistry",
    "ModelVersion",
    "MySQLMetadataBackend",
    "NotFoundError",
    "OutcomeUnknownError",
    "Page",
    "PermissionDeniedError",
    "PostgreSQLMetadataBackend",
    "ReadOnlyError",
    "RegistryError",
    "RegistryStats",
    "SQLiteMetadataBackend",
    "SchemaOutOfDateError",
    "VerifyReport",
    "__version__",
    "connect",
    "copy_registry",
    "open_backend",
]
