"""Exceptions shared across proxylab (torch-free)."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss with ``nan_policy="stop"``); the message is one line."""
