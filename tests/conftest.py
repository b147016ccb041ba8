"""Shared by tests/unit and tests/contract: puts this folder on sys.path (pytest's default
rootdir-relative import) so that both import `dbsources`."""
