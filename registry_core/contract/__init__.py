"""The contract suite: every guarantee a `MetadataBackend` gives (SPEC sections 3-10), as
pytest tests that run against any backend registered under `registry_core.backends`:

    pytest --pyargs registry_core.contract --registry-url 'acme:///{tmp}/registry.db'

Each test gets an empty database of its own (see `registry_core.testing.plugin`). A test of a
feature the backend does not declare in `MetadataBackend.capabilities` is skipped with the
reason. Tests that need control of processes or servers (kills, restarts, fault proxies,
poolers, failover) stay in registry-core's own repository.
"""
