"""Training: configuration, the logging training loop, checkpoints and presets.

Importing this package is cheap (the CLI builds its parser from the config's constraints and the presets on
every call); torch comes with :mod:`.loop`, loaded on first use of :class:`Trainer` or :func:`pick_device`.
"""
from ..errors import TrainingError
from .config import TrainConfig, snapshot_schedule
from .presets import PRESETS, preset
from .stopping import TrainingStopped

__all__ = ["TrainConfig", "Trainer", "TrainingError", "TrainingStopped", "pick_device", "snapshot_schedule",
           "PRESETS", "preset"]

_LAZY = {"Trainer": "loop", "pick_device": "loop"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
