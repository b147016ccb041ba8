"""The migration set shared by every backend: NNN_name.sql files and their NNN_name.down.sql.

Each file is written once; `{{token}}` marks where databases spell a type differently, and the
backend's Dialect expands it (see `Dialect.type_names`). Installed, this folder is the package
`registry_core.migrations` and the files ship as package data.
"""
