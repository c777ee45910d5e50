"""Exceptions for bad user input: the CLI turns them into one-line messages."""

import re
import reprlib


class QPEFTError(Exception):
    """An error caused by the user's input or environment, with a message that says the fix."""


class InputError(QPEFTError, ValueError):
    """A file, argument or value is malformed or missing."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of another library's error message (terminal colours removed, cut at ``limit``)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # torch puts terminal colours in some messages
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4


def short_repr(value: object) -> str:
    """``repr(value)`` cut to a few dozen characters, for messages about values of any size."""
    return _SHORT.repr(value)
