"""`registry-core` (also `python -m registry_core`): models, versions, migrations and statistics
from a shell.

Commands: `ls [NAME]`, `show REF`, `search [FILTER]`, `tag REF KEY VALUE`, `untag REF KEY`,
`alias NAME ALIAS (VERSION | --delete)`, `rm REF --yes`, and `migrate`, `downgrade`, `status`,
`repair`, `sql`, `stats`, `fsck`, `copy SOURCE_URL TARGET_URL`; `registry-core --version`
prints `registry-core <version>`. Every command takes `--json`, and all but `copy` (which names
its two databases) take `--url` (see `registry-core COMMAND --help`).

REF is NAME[@VERSION|@ALIAS], split at the LAST '@' (model names may contain '@'): all digits
after it is a version (aliases are never all digits), another word an alias (`show` only; `tag`,
`untag` and `rm` take a version, and a word after '@' there is part of the name), nothing after
it (`a@b@`) means the name before it without a version. No '@', or nothing before it: the whole
text is the name. `show` alone falls back: if NAME@X finds nothing and a model is named exactly
NAME@X, it shows that model's latest version. Writes never fall back; they fail with a hint.

Output: tables for people (aligned, long values cut with an ellipsis, times in UTC), JSON with
`--json`. Errors: `registry-core: error: MESSAGE` on stderr; with `--json`, the object
`{"error": {"type": "<exception class>", "message": "..."}}` on stdout instead (usage errors
too, type "UsageError"), with the same exit code. No message shows a password.

Exit codes:
    0    done (`status`: up to date)
    1    failed (a RegistryError: the database cannot be reached, bad input such as a filter
         or page token, no registry at a SQLite path that does not exist, `copy` found a
         target version that differs from the source's or a source file that does not match
         its checksum, ...)
    2    bad usage (unknown command or option, a migration version that does not exist, `rm`
         or `downgrade` without --yes, `alias` with neither VERSION nor --delete, `search
         --page-size` outside 1..1000)
    3    migrations are pending, or the database has no registry yet (`status`; the data
         commands and `stats`, `fsck`, which never migrate)
    4    the schema is dirty (a migration failed part-way)
    5    applied migration files have changed since they were applied
    6    `fsck` found problems
    7    not found (a model, version, alias or tag: NotFoundError; `copy --model` naming a
         model the source does not have)
    130  interrupted (Ctrl-C; "registry-core: interrupted" on stderr)
    141  stdout was closed early (`registry-core ls | head -1`): the rest of the output is
         dropped quietly, without a traceback; 141 is what a shell reports for a program ended
         by SIGPIPE, so `set -o pipefail` scripts see the same as with other tools.

Commands other than `migrate` never create a database. A SQLite URL whose file does not exist
is checked before anything is opened: `status` reports an empty database with every migration
pending (exit 3, JSON "exists": false) and `sql` prints what `migrate` would run there; every
other command fails with "no registry at PATH" (exit 1). The data commands connect with
`migrate=False`; only `migrate` changes the schema (and `downgrade`, `repair`).

The package: `entry` (`main`, the parser and the one dispatch: each command's parser sets
`func`, its handler), `base` (exit codes, usage errors, the options several commands share,
and `Context`, which opens a registry or a backend without creating a SQLite file), `output`
(tables and JSON), and one module per command group, each command's parser right above its
handler: `data` (ls, show, search, tag, untag, alias, rm), `migrations` (migrate, downgrade,
status, repair, sql) and `operations` (stats, fsck, copy). A new command is one parser and one
handler in one of them.
"""

from registry_core.cli.base import (
    EXIT_CHANGED,
    EXIT_DIRTY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_PIPE,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    NoRegistryError,
    UsageError,
)
from registry_core.cli.data import Ref, parse_ref
from registry_core.cli.entry import main, parser, run

__all__ = [
    "EXIT_CHANGED",
    "EXIT_DIRTY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_PIPE",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "NoRegistryError",
    "Ref",
    "UsageError",
    "main",
    "parse_ref",
    "parser",
    "run",
]
