"""The two ways a command refuses its arguments, each printed as one ``error:`` line by the CLI."""

from __future__ import annotations


class UsageError(ValueError):
    """A command line that cannot be carried out as asked (existing output, bad resume, clashing paths)."""


class InputError(ValueError):
    """Input that cannot be tagged as asked; the message names file and line."""
