"""Training: configuration, the logging training loop, checkpoints and presets."""
from .config import TrainConfig, snapshot_schedule
from .loop import Trainer, TrainingError, pick_device
from .presets import PRESETS, preset

__all__ = ["TrainConfig", "Trainer", "TrainingError", "pick_device", "snapshot_schedule", "PRESETS", "preset"]
