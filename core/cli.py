"""One ``main()`` pattern for the project's command lines (``python -m trainer``, ``python -m evaluation``,
``python -m benchmarks``): a command name, then the command's own arguments (each command module has a
``main(argv) -> int`` with its own ``--help``). A ``WorkbenchError`` from any command is printed as one
line, ``error: ...``, with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import importlib
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
