"""One ``main()`` pattern for the project's command lines (``python -m trainer``, ``python -m evaluation``,
``python -m benchmarks``): a command name, then the command's own arguments (each command module has a
``main(argv) -> int`` with its own ``--help``). A ``WorkbenchError`` from any command is printed as one
line, ``error: ...``, with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys

from core.errors import WorkbenchError


def usage(prog: str, commands: dict[str, tuple[str, str]]) -> str:
    lines = "\n".join(f"    {name:<12} {text}" for name, (_, text) in commands.items())
    return f"usage: {prog} {{{','.join(commands)}}} [--help] ...\n\ncommands:\n{lines}"


def dispatch(prog: str, commands: dict[str, tuple[str, str]], argv: list[str] | None = None) -> int:
    """Run ``commands[argv[0]]``'s ``main(argv[1:])``.

    Args:
        prog: How the command line is typed, e.g. ``python -m trainer``.
        commands: Name -> (module, one line of help); ``module:function`` names another function than
            ``main``.
        argv: The arguments (default ``sys.argv[1:]``).

    Returns:
        The command's exit status; 2 for an unknown command or a ``WorkbenchError``.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(prog, commands), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in commands:
        close = difflib.get_close_matches(name, commands, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"error: unknown command {name!r}{hint}\n\n{usage(prog, commands)}", file=sys.stderr)
        return 2
    module, _, function = commands[name][0].partition(":")
    try:
        return getattr(importlib.import_module(module), function or "main")(rest)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def short_error(parser: argparse.ArgumentParser, message: str):
    """What a mistyped command line gets: at most three lines (the error, the nearest valid flag, where
    the full help is), never the whole usage."""
    flags = [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]
    typed = re.findall(r"(--[\w-]+)", message) if "unrecognized" in message else []
    close = next((difflib.get_close_matches(flag.split("=")[0], flags, n=1) for flag in typed), [])
    hint = f"; did you mean {close[0]}?" if close else ""
    parser.exit(2, f"{parser.prog}: error: {message}{hint}\nall options: {parser.prog} --help\n")


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with ``short_error``; every command line of the project uses it."""

    def error(self, message: str):
        short_error(self, message)
