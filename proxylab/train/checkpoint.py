"""Weights and optimiser state for ``--resume``: written atomically, read with ``weights_only=True``."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..store import RunError, atomic_write_bytes

CHECKPOINT = Path("weights") / "last.pt"


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` (tensors, numbers, strings, nested dicts/lists only) to ``weights/last.pt``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(run_dir) / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """Load ``weights/last.pt`` without unpickling arbitrary objects; RunError (one line) when missing or corrupt."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise RunError(f"run {Path(run_dir).name!r} has no checkpoint to resume from (expected {path})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or hostile files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"checkpoint {path} cannot be loaded safely: {first}") from None
