"""The one error type of the data package."""
from __future__ import annotations


class DataError(ValueError):
    """A dataset file or folder is missing or malformed.

    The message is one line naming the file (or folder), what was expected and what was found,
    e.g. ``"data.csv: column 'f3' must be numeric, got strings such as 'abc'"``.
    """
