"""Training: configuration, the logging training loop, checkpoints and presets."""
from .config import TrainConfig, snapshot_schedule
from .loop import Trainer, TrainingError, pick_device
from .presets import PRESETS, preset
from .stopping import TrainingStopped

__all__ = ["TrainConfig", "Trainer", "TrainingError", "pick_device", "TrainingStopped", "snapshot_schedule", "PRESETS", "preset"]
