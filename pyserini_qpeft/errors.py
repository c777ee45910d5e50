"""Exceptions for bad user input: the CLI turns them into one-line messages."""


class QPEFTError(Exception):
    """An error caused by the user's input or environment, with a message that says the fix."""


class InputError(QPEFTError, ValueError):
    """A file, argument or value is malformed or missing."""
