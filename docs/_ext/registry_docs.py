"""Sphinx extension of registry-core's documentation: the references that build themselves.

- ``{api-rest}``: documents every name of a module's ``__all__`` that the page has not
  documented above it, so a name added to ``__all__`` shows up without anyone editing a page.
- A build check: every name of the ``__all__`` of each module in ``registry_api_modules`` is
  documented somewhere, and every public function, class, method or property documented has a
  docstring (a warning each, which ``-W`` makes an error).
- ``{cli-reference}``: one section per command with its ``--help`` text, taken from the parser
  itself (``registry_core.cli.parser()``) at build time, so a new command, option or help text
  appears without anyone editing a page.
- A build check of the pages' examples: every ``registry-core ...`` command line in a shell
  block must parse with that parser, and every Python block must either run as a test
  (``{testcode}``/``{doctest}``) or say it does not (``{code-block} python`` with
  ``:class: not-run``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import shlex
from collections.abc import Iterator
from typing import Any, ClassVar

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

SHELL_LANGUAGES = {"bash", "console", "shell", "sh"}
PYTHON_LANGUAGES = {"python", "python3", "py", "pycon"}
NOT_RUN = "not-run"
HELP_WIDTH = "80"  # --help is wrapped to $COLUMNS: the reference is wrapped as on a terminal


# -- the API reference ---------------------------------------------------------------------------
def _exported(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return list(getattr(module, "__all__", []))


def _autodoc_directive(module_name: str, name: str) -> str:
    obj = getattr(importlib.import_module(module_name), name)
    if isinstance(obj, type):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
    elif callable(obj):
        kind = "autofunction"
    else:
        kind = "autodata"
    return f".. {kind}:: {module_name}.{name}"


class ApiRest(SphinxDirective):
    """Documents the names of a module's ``__all__`` not documented yet (default:
    ``registry_core``), in the order of ``__all__``."""

    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0] if self.arguments else "registry_core"
        documented = self.env.domains["py"].objects
        missing = [n for n in _exported(module_name) if f"{module_name}.{n}" not in documented]
        if not missing:
            return []
        # reStructuredText: autodoc's output is reST, so the API page is a .rst page (in a
        # MyST page, inside {eval-rst})
        text = "\n\n".join(_autodoc_directive(module_name, n) for n in missing)
        return self.parse_text_to_nodes(text)


def check_api_complete(app: Sphinx, env: BuildEnvironment) -> None:
    """Every name exported by the API modules is documented on some page."""
    documented = env.domains["py"].objects
    for module_name in app.config.registry_api_modules:
        for name in _exported(module_name):
            if f"{module_name}.{name}" not in documented:
                logger.warning(
                    "%s.%s is in __all__ but documented on no page (add it to api.rst, or keep "
                    "the {api-rest} directive there)",
                    module_name,
                    name,
                    type="registry",
                    subtype="api",
                )


def check_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A public function, class, method or property without a docstring is a warning."""
    if what not in {"function", "class", "exception", "method", "property"}:
        return
    if name.rsplit(".", 1)[-1].startswith("_"):
        return
    if not any(line.strip() for line in lines):
        logger.warning("%s %s has no docstring", what, name, type="registry", subtype="docstring")


# -- the CLI reference ---------------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    summaries = _summaries(parser)
    for name, sub in _subcommands(parser).items():
        yield (*path, name), sub, summaries.get(name, "")
        yield from _walk(sub, (*path, name))


def _help_text(parser: argparse.ArgumentParser) -> str:
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _cli_parser() -> argparse.ArgumentParser:
    from registry_core.cli import parser

    return parser()


class CliReference(SphinxDirective):
    """``registry-core --help``, then a section per command (label ``cli-NAME``) with its
    ``--help``, in the order the parser lists them."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        parser = _cli_parser()
        top = _help_text(parser)
        out: list[nodes.Node] = [nodes.literal_block(top, top, language="text")]
        for path, sub, summary in _walk(parser):
            if not summary.strip():
                logger.warning(
                    "registry-core %s has no help= summary",
                    " ".join(path),
                    location=self.get_location(),
                    type="registry",
                    subtype="cli",
                )
            label = "cli-" + "-".join(path)
            section = nodes.section(ids=[label], names=[label])
            section += nodes.title(text="registry-core " + " ".join(path))
            if summary:
                section += nodes.paragraph(text=summary[0].upper() + summary[1:] + ".")
            text = _help_text(sub)
            section += nodes.literal_block(text, text, language="text")
            self.state.document.note_explicit_target(section, section)
            out.append(section)
        return out


# -- the pages' examples -------------------------------------------------------------------------
def _command_lines(text: str) -> Iterator[str]:
    """The `registry-core ...` commands of a shell block: continuation lines joined, prompts,
    comments, environment assignments and what follows a pipe or `&&` dropped."""
    joined = text.replace("\\\n", " ")
    for raw in joined.splitlines():
        line = raw.strip().removeprefix("$ ")
        for part in line.replace("&&", "|").replace(";", "|").split("|"):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            while words and "=" in words[0] and not words[0].startswith("-"):
                words.pop(0)  # VAR=value before the command
            if words[:1] == ["registry-core"]:
                yield shlex.join(words)
            elif words[:3] == ["python", "-m", "registry_core"]:
                yield shlex.join(["registry-core", *words[3:]])


def _parse_error(parser: argparse.ArgumentParser, command: str) -> str | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            parser.parse_args(shlex.split(command)[1:])
    except SystemExit as exc:  # --help, --version
        return None if exc.code in (0, None) else f"exit {exc.code}"
    except Exception as exc:  # the CLI's parser raises its ArgumentError
        return str(exc) or type(exc).__name__
    return None


def check_examples(app: Sphinx, doctree: nodes.document) -> None:
    """Shell examples must parse; Python examples must run as tests or say they do not."""
    parser = _cli_parser()
    for block in doctree.findall(nodes.literal_block):
        language = block.get("language", "")
        if block.get("testnodetype"):
            continue  # {testcode} / {doctest}: the doctest builder runs it
        if language in PYTHON_LANGUAGES and NOT_RUN not in block["classes"]:
            logger.warning(
                "a Python example that runs as no test: write it as {testcode} (or {doctest}), "
                "or as {code-block} python with :class: not-run if it cannot run offline",
                location=block,
                type="registry",
                subtype="example",
            )
        if language in SHELL_LANGUAGES:
            for command in _command_lines(block.astext()):
                problem = _parse_error(parser, command)
                if problem:
                    with_ellipsis = "..." in command
                    logger.warning(
                        "the example %r does not parse with registry-core's parser: %s%s",
                        command,
                        problem,
                        " (write a real value, not '...')" if with_ellipsis else "",
                        location=block,
                        type="registry",
                        subtype="cli",
                    )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("registry_api_modules", ["registry_core"], "env")
    app.add_directive("api-rest", ApiRest)
    app.add_directive("cli-reference", CliReference)
    app.connect("autodoc-process-docstring", check_docstring)
    app.connect("doctree-read", check_examples)
    app.connect("env-check-consistency", check_api_complete)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
