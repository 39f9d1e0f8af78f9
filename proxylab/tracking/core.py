"""The one logging core: what the trainer and :class:`proxylab.tracking.RunLogger` (any PyTorch loop) both log.

* :func:`group_grad_norms` — per-group gradient norms before clipping;
* :class:`StepRecord` / :class:`StepStats` — full logging's per-step statistics (per-sample ‖∂L/∂f(x)‖ summaries,
  per-class gradient mass, per-proxy gradient norms and, where the loss returns its similarities, their pull/push
  split, sub-proxy usage and proxy geometry), computed a window of steps at a time;
* :func:`sample_grad_norms` — ‖∂L/∂f(x)‖ of a whole evaluation subset taken as one batch (what a snapshot stores);
* :class:`RunLog` — a :class:`proxylab.store.RunWriter` with these statistics: a step's scalars go to the store
  now, its record is buffered, and a snapshot (checked finite) is written only after every buffered step's
  statistics, so a reader that sees the snapshot sees every row up to it.

Why windows: on a small model a training step is a few milliseconds of many small torch ops, and the ~40 extra ops
of computing every statistic each step (norms, sorts, Gram matrices, soft assignments, the pull/push split) cost far
more in dispatch than in arithmetic. So a step only keeps references to tensors it creates anyway (labels,
embeddings, ∂L/∂f(x), the similarities and their gradient) plus one copy of the proxies and their gradient norms;
:meth:`StepStats.drain` then computes each statistic for all buffered steps with one batched op. The numbers are
the same as step-by-step computation (tests/test_train_stats.py). A live dashboard sees the statistics up to one
window (at most about a second) later than the loss.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import TrainingError
from ..losses.orthogonality import welch_floor
from ..train.stats import class_sums, proxy_geometries, pull_push_gradients, sample_grad_summaries, sub_proxy_usage


def group_grad_norms(groups: Mapping[str, Iterable[Tensor]]) -> dict[str, float]:
    """L2 norm of each group's gradients taken together (before clipping; 0 for a group without gradients), and
    ``total`` over all groups. A NaN/inf gradient anywhere makes its group's norm (and the total) non-finite.

    Parameters
    ----------
    groups : mapping of str to iterable of Tensor
        Group name → its parameters (e.g. ``{"backbone": ..., "head": ..., "proxies": [P]}``).

    Returns
    -------
    dict of str to float
        ``{name: norm, ..., "total": sqrt(sum of squares)}``.
    """
    grads, owner = [], []
    for i, params in enumerate(groups.values()):
        for p in params:
            if p.grad is not None:
                grads.append(p.grad)
                owner.append(i)
    squares = [0.0] * len(groups)
    if grads:  # one foreach norm over every gradient and one device → host copy, whatever the number of groups
        for i, norm in zip(owner, torch.stack(torch._foreach_norm(grads)).tolist()):
            squares[i] += norm * norm
    values = [math.sqrt(v) for v in squares]
    norms = dict(zip(groups, values))
    norms["total"] = math.sqrt(sum(v * v for v in values))
    return norms


def loss_value(output: Any) -> Tensor:
    """The scalar loss of a loss module's output: a tensor (pytorch-metric-learning, torch.nn) or ``.loss``
    (proxylab's :class:`proxylab.losses.LossOutput`)."""
    value = getattr(output, "loss", output)
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise TypeError(f"the loss must return a scalar tensor (or an object with .loss), got {type(output).__name__}")
    return value.reshape(())


def sample_grad_norms(loss_fn: Callable[[Tensor, Tensor], Any], embeddings: Tensor, labels: Tensor) -> Tensor:
    """‖∂L/∂f(x)‖ per sample (N,) with the N samples taken as one batch of `loss_fn` (a snapshot's gradient view).

    The gradient is taken on the embeddings themselves (a leaf copy), so no model gradient is computed or
    accumulated; `loss_fn(embeddings, labels)` may return a tensor or an object with ``.loss``.
    """
    leaf = embeddings.detach().clone().requires_grad_(True)  # (N, d)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_value(loss_fn(leaf, labels)), leaf, allow_unused=True)
    if grad is None:  # the loss does not depend on these embeddings (e.g. no pair in the subset)
        return torch.zeros(len(leaf), device=leaf.device)
    return grad.norm(dim=1)


class StepRecord(NamedTuple):
    """What one step leaves for its statistics (all detached; the proxy tensors None for a loss without, the
    similarities None for a loss that does not return them: a loop of the user's own, whose sub-proxy usage is then
    computed from cosines of the embeddings and proxies, and whose pull/push split is not known)."""

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
            t = len(records)
            if records[0].sims is not None:
                sims, sims_grad = stack(3), stack(4)  # (T, B, C, K)
                pull, push = pull_push_gradients(sims_grad, stack(1), labels, proxies)  # (T, C, K, d)
                vectors["proxy_grad_pull"] = pull.norm(dim=-1).reshape(t, -1)
                vectors["proxy_grad_push"] = push.norm(dim=-1).reshape(t, -1)
            else:  # the cosines s(x, c, k) = x̂·p̂ the proxy losses use
                sims = torch.einsum("tbd,tckd->tbck", F.normalize(stack(1), dim=-1), F.normalize(proxies, dim=-1))
            if records[0].proxy_grad_norm is not None:
                vectors["proxy_grad"] = stack(6).reshape(t, -1)  # (T, C*K)
            vectors["proxy_usage"] = sub_proxy_usage(sims, labels).reshape(t, -1)  # NaN for absent classes
            columns.update(proxy_geometries(proxies, self.pair_mask))
            c, k, d = proxies.shape[1:]
            columns["proxy/welch_floor"] = torch.full((t,), welch_floor(c * k, d), dtype=torch.float64)
        table = {key: value.tolist() for key, value in columns.items()}  # one device → host copy per statistic
        arrays = {key: value.detach().float().cpu().numpy() for key, value in vectors.items()}
        scalars = [{key: table[key][i] for key in table} for i in range(len(records))]
        return scalars, [{key: arrays[key][i] for key in arrays} for i in range(len(records))]


class RunLog:
    """A run's writer plus full logging's statistics: the trainer's and :class:`~proxylab.tracking.RunLogger`'s
    one way to log a step and write a snapshot.

    Parameters
    ----------
    writer : RunWriter
        The open run (only rank 0 has one).
    num_classes : int
        C, for the per-class gradient mass.
    pair_mask : Tensor, optional
        (n, n) off-diagonal mask of the C·K proxies (reused for every Gram matrix).
    """

    def __init__(self, writer, num_classes: int, pair_mask: Tensor | None = None):
        self.writer = writer
        self.stats = StepStats(num_classes, pair_mask)

    def step(self, step: int, scalars: Mapping[str, float], record: StepRecord | None = None) -> None:
        """Write a finite step's scalars now and buffer its record (statistics follow within a window)."""
        self.writer.log_scalars(step, scalars)
        if record is not None:
            self.stats.add(step, record)
            if self.stats.ready:
                self.flush()

    def flush(self) -> None:
        """Compute and write every buffered step's statistics (before anything that must see every row)."""
        for step, scalars, vectors in self.stats.drain():
            self.writer.log_scalars(step, scalars)
            self.writer.log_vectors(step, vectors)

    def snapshot(self, step: int, **arrays: np.ndarray | None) -> None:
        """Write the snapshot of `step` (see :class:`proxylab.store.Snapshot` for the arrays) after the buffered
        statistics; non-finite embeddings or proxies raise :class:`TrainingError` and write nothing."""
        for key in ("embeddings", "proxies"):
            value = arrays.get(key)
            if value is not None and not np.isfinite(value).all():
                raise TrainingError(f"non-finite {key} at step {step}; the snapshot was not written")
        self.flush()
        self.writer.write_snapshot(step, **{k: v for k, v in arrays.items() if v is not None})
