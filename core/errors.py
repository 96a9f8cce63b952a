"""Errors whose message is meant for the person who caused them: each one says what to do.

The app shows them to the visitor as they are (one line in the log, no traceback); the command-line
tools print them and exit. Anything else that goes wrong is a bug and keeps its traceback.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Bad input or a missing resource, described for the person who can fix it."""


class ModelLoadError(WorkbenchError, RuntimeError):
    """A model spec that cannot be turned into a model; the message says how to fix it."""


class CorpusError(WorkbenchError, ValueError):
    """A corpus (an upload, ``$CORPUS``) that cannot be used; the message says how to fix it."""


class InputError(WorkbenchError, ValueError):
    """A request with a missing, empty or out-of-range value; the message says what is expected."""
