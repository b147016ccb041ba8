"""`python -m registry_core` runs the CLI."""

from registry_core.cli import main

main()
