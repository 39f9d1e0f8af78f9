"""Full logging's per-step statistics, computed a window of steps at a time.

On a small model a training step is a few milliseconds of many small torch ops, and the ~40 extra ops of
computing every statistic each step (norms, sorts, Gram matrices, soft assignments, the pull/push split)
cost far more in dispatch than in arithmetic. So a step only keeps references to tensors it creates
anyway (labels, embeddings, ∂L/∂f(x), the similarities and their gradient) plus one copy of the proxies
and their gradient norms; :meth:`StepStats.drain` then computes each statistic for all buffered steps with
one batched op. The numbers are the same as step-by-step computation (tests/test_train_stats.py).

The trainer drains before anything that must see every row up to a step on disk (a checkpoint, a snapshot,
the end of the run), so crash-safety is unchanged; a live dashboard sees the statistics up to one window
later than the loss.
"""
from __future__ import annotations

import time
from typing import Iterator, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..losses.orthogonality import welch_floor
from .stats import class_sums, proxy_geometries, pull_push_gradients, sample_grad_summaries, sub_proxy_usage


class StepRecord(NamedTuple):
    """What one step leaves for its statistics (all detached; the proxy tensors None for a loss without)."""

    labels: Tensor  # (B,)
    embeddings: Tensor  # (B, d)
    embedding_grad: Tensor  # (B, d) ∂L/∂f(x)
    sims: Tensor | None = None  # (B, C, K)
    sims_grad: Tensor | None = None  # (B, C, K) ∂L/∂s
    proxies: Tensor | None = None  # (C, K, d), a copy taken before the update
    proxy_grad_norm: Tensor | None = None  # (C, K), before clipping

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self if t is not None)


class StepStats:
    """Buffer of :class:`StepRecord` s; :meth:`drain` yields ``(step, scalars, vectors)`` per step.

    Parameters
    ----------
    num_classes : int
        C.
    pair_mask : Tensor or None
        (n, n) off-diagonal mask of the C·K proxies, reused for every Gram matrix.
    window : int, default=64
        Steps buffered before :attr:`ready` turns True ...
    max_bytes : int, default=64 MiB
        ... or fewer, so that the buffered tensors stay under this size (large C·K·B) ...
    max_age_s : float, default=1.0
        ... or fewer, so that a live reader is never more than about a second behind (slow steps).
    """

    def __init__(self, num_classes: int, pair_mask: Tensor | None = None, window: int = 64,
                 max_bytes: int = 64 << 20, max_age_s: float = 1.0):
        self.num_classes = num_classes
        self.pair_mask = pair_mask
        self.window = window
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._steps: list[int] = []
        self._records: list[StepRecord] = []
        self._bytes = 0
        self._oldest = 0.0

    def add(self, step: int, record: StepRecord) -> None:
        if not self._records:
            self._oldest = time.monotonic()
        self._steps.append(step)
        self._records.append(record)
        self._bytes += record.nbytes()

    def __len__(self) -> int:
        return len(self._records)

    @property
    def ready(self) -> bool:
        return (len(self._records) >= self.window or self._bytes >= self.max_bytes
                or (bool(self._records) and time.monotonic() - self._oldest >= self.max_age_s))

    def drain(self) -> Iterator[tuple[int, dict[str, float], dict[str, np.ndarray]]]:
        """Statistics of every buffered step, oldest first; empties the buffer."""
        steps, records = self._steps, self._records
        self._steps, self._records, self._bytes = [], [], 0
        start = 0
        while start < len(records):  # runs of equal batch size stack into one (T, B, ...) batch
            end = start + 1
            while end < len(records) and records[end].labels.shape == records[start].labels.shape:
                end += 1
            yield from zip(steps[start:end], *self._compute(records[start:end]))
            start = end

    def _compute(self, records: list[StepRecord]) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
        stack = lambda i: torch.stack([r[i] for r in records])  # noqa: E731
        labels = stack(0)  # (T, B)
        sample_grad = stack(2).norm(dim=-1)  # (T, B) ‖∂L/∂f(x)‖
        columns = dict(sample_grad_summaries(sample_grad))  # key → (T,)
        vectors = {"class_grad": class_sums(sample_grad, labels, self.num_classes)}  # (T, C)
        if records[0].proxies is not None:
            proxies = stack(5)  # (T, C, K, d)
            sims, sims_grad = stack(3), stack(4)  # (T, B, C, K)
            pull, push = pull_push_gradients(sims_grad, stack(1), labels, proxies)  # (T, C, K, d)
            t = len(records)
            vectors["proxy_grad"] = stack(6).reshape(t, -1)  # (T, C*K)
            vectors["proxy_grad_pull"] = pull.norm(dim=-1).reshape(t, -1)
            vectors["proxy_grad_push"] = push.norm(dim=-1).reshape(t, -1)
            vectors["proxy_usage"] = sub_proxy_usage(sims, labels).reshape(t, -1)  # NaN for absent classes
            columns.update(proxy_geometries(proxies, self.pair_mask))
            c, k, d = proxies.shape[1:]
            columns["proxy/welch_floor"] = torch.full((t,), welch_floor(c * k, d), dtype=torch.float64)
        table = {key: value.tolist() for key, value in columns.items()}  # one device → host copy per statistic
        arrays = {key: value.detach().float().cpu().numpy() for key, value in vectors.items()}
        scalars = [{key: table[key][i] for key in table} for i in range(len(records))]
        return scalars, [{key: arrays[key][i] for key in arrays} for i in range(len(records))]
