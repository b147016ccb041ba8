"""One small module per database: how to connect, session setup, and the Dialect.

Installed as `registry_core.backends`. Everything else a backend does lives in
`registry_core.sqlbackend` and the shared SQL layer `registry_core.sql`.
"""
