"""Where a table read from CSV / parquet / TSV stops being numeric, said cell by cell (used by every reader)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def non_numeric(frame, columns: Sequence[Any]) -> str | None:
    """Why ``columns`` of the pandas DataFrame ``frame`` are not all numbers, or None when they are.

    Returns
    -------
    str or None
        ``"row 3, column 'x': could not parse 'abc' as a number"`` for the first cell of the first such column
        that is no number (rows count from 0 after any header row, as in every other message about rows), or,
        for a column whose cells are not numbers although each parses (booleans, numbers stored as text),
        ``"column 'x' must be numeric, got bool such as True"``.
    """
    import pandas as pd

    for col in columns:
        values = frame[col]
        if values.dtype.kind in "iuf":
            continue
        parsed = pd.to_numeric(values, errors="coerce") if values.dtype.kind in "OSU" else values
        bad = np.flatnonzero(pd.isna(parsed).to_numpy() & values.notna().to_numpy())
        if len(bad):
            return f"row {int(bad[0])}, column {col!r}: could not parse {_plain(values.iloc[bad[0]])!r} as a number"
        return f"column {col!r} must be numeric, got {values.dtype} such as {_plain(values.iloc[0])!r}"
    return None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so a message quotes True, not np.True_)."""
    return value.item() if isinstance(value, np.generic) else value
