"""The one logging core: what the trainer and :class:`proxylab.tracking.RunLogger` (any PyTorch loop) both log.

* :class:`GradGroups` — per-group gradient norms before clipping;
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
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import TrainingError
from ..geometry import welch_floor
from ..train.stats import class_sums, proxy_geometries, pull_push_gradients, sample_grad_summaries, sub_proxy_usage


class GradGroups:
    """Parameter groups whose gradient norms (before clipping) a step logs, e.g. backbone, head and proxies.

    :meth:`per_param` takes one step's per-parameter norms on the gradients' device with no host copy (what a loop
    of the user's own pays per step); :meth:`reduce` turns T steps of them into each group's norm and the total,
    one host copy for the lot. A NaN/inf gradient makes its group's norm (and the total) non-finite, no other.

    Parameters
    ----------
    groups : mapping of str to iterable of Tensor
        Group name → its parameters (e.g. ``{"backbone": ..., "head": ..., "proxies": [P]}``).
    """

    def __init__(self, groups: Mapping[str, Iterable[Tensor]]):
        self.names = list(groups)
        self.params = [p for params in groups.values() for p in params]
        self._owner = [i for i, params in enumerate(groups.values()) for _ in params]

    def per_param(self) -> list[Tensor] | None:
        """Each parameter's gradient norm now, P 0-d tensors (one foreach norm; 0 for a parameter without a
        gradient); None when no parameter has one."""
        grads = [p.grad for p in self.params]
        if all(g is not None for g in grads):  # (`None in grads` would compare tensors with ==)
            return torch._foreach_norm(grads)
        present = [g for g in grads if g is not None]
        if not present:
            return None
        norms = iter(torch._foreach_norm(present))
        zero = present[0].new_zeros(())
        return [zero if g is None else next(norms) for g in grads]

    def now(self) -> dict[str, float]:
        """Each group's norm and the total for the gradients there are now, as floats (one host copy)."""
        per_param = self.per_param()
        if per_param is None:
            return {**{name: 0.0 for name in self.names}, "total": 0.0}
        return {name: values[0] for name, values in self.reduce([per_param]).items()}

    def reduce(self, per_param: Sequence[Sequence[Tensor]]) -> dict[str, list[float]]:
        """Per-parameter norms of T steps (T lists of P 0-d tensors) → ``{name: [T norms], ..., "total": [...]}``."""
        squares = torch.stack([norm for step in per_param for norm in step]).double().reshape(len(per_param), -1)
        squares = squares.square()  # (T, P)
        owner = torch.as_tensor(self._owner, device=squares.device, dtype=torch.long)
        groups = squares.new_zeros(len(squares), len(self.names)).index_add_(1, owner, squares)  # (T, G)
        table = torch.cat([groups, groups.sum(dim=1, keepdim=True)], dim=1).sqrt().T.tolist()  # one host copy
        return dict(zip([*self.names, "total"], table))


def loss_value(output: Any) -> Tensor:
    """The scalar loss of a loss module's output: a tensor (pytorch-metric-learning, torch.nn) or ``.loss``
    (proxylab's :class:`proxylab.losses.LossOutput`)."""
    value = getattr(output, "loss", output)
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise TypeError(f"the loss must return a scalar tensor (or an object with .loss), got {type(output).__name__}")
    return value if value.ndim == 0 else value.reshape(())


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
    proxies: Tensor | None = None  # (C, K, d), a copy taken before the update (or raw: StepStats.proxy_layout)
    proxy_grad_norm: Tensor | None = None  # (C, K), before clipping
    proxy_grad: Tensor | None = None  # or a copy of the proxies' gradient, laid out as `proxies` (norms per window)

    def kind(self) -> tuple:
        """What must agree for records to stack: the batch size and which optional tensors are there."""
        return self.labels.shape, tuple(t is None for t in self[3:])

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self if t is not None)


class StepStats:
    """Buffer of :class:`StepRecord` s; :meth:`drain` yields ``(step, scalars, vectors)`` per step.

    Parameters
    ----------
    num_classes : int
        C.
    proxy_layout : callable, optional
        Maps T stacked proxies (or proxy gradients) as a record holds them, (T, ...), to (T, C, K, d): records then
        keep a plain copy of a loss's parameter (one op a step) and the layout is read once a window.
    """

    def __init__(self, num_classes: int, proxy_layout: Callable[[Tensor], Tensor] | None = None):
        self.num_classes = num_classes
        self.proxy_layout = proxy_layout
        self._steps: list[int] = []
        self._records: list[StepRecord] = []
        self._kinds: list[tuple] = []
        self.nbytes = 0
        self._record_bytes = 0

    def add(self, step: int, record: StepRecord) -> None:
        kind = record.kind()
        if not self._kinds or kind != self._kinds[-1]:
            self._record_bytes = record.nbytes()  # records of one kind have one size
        self._steps.append(step)
        self._records.append(record)
        self._kinds.append(kind)
        self.nbytes += self._record_bytes

    def __len__(self) -> int:
        return len(self._records)

    def take(self) -> tuple[list[int], list[StepRecord]]:
        """The buffered steps and records, oldest first; empties the buffer."""
        steps, records = self._steps, self._records
        self._steps, self._records, self._kinds, self.nbytes = [], [], [], 0
        return steps, records

    def drain(self) -> Iterator[tuple[int, dict[str, float], dict[str, np.ndarray]]]:
        """Statistics of every buffered step, oldest first; empties the buffer."""
        return self.compute(zip(*self.take()))

    def compute(self, items: Iterable[tuple[int, StepRecord]]) -> Iterator[tuple[int, dict[str, float],
                                                                                  dict[str, np.ndarray]]]:
        """``(step, scalars, vectors)`` of each ``(step, record)``, in order."""
        items = list(items)
        kinds = [record.kind() for _, record in items]
        start = 0
        while start < len(items):  # runs of records of one kind stack into one (T, B, ...) batch
            end = start + 1
            while end < len(items) and kinds[end] == kinds[start]:
                end += 1
            yield from zip([s for s, _ in items[start:end]], *self._compute([r for _, r in items[start:end]]))
            start = end

    def _compute(self, records: list[StepRecord]) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
        stack = lambda i: torch.stack([r[i] for r in records])  # noqa: E731
        labels = stack(0)  # (T, B)
        sample_grad = stack(2).norm(dim=-1)  # (T, B) ‖∂L/∂f(x)‖
        columns = dict(sample_grad_summaries(sample_grad))  # key → (T,)
        vectors = {"class_grad": class_sums(sample_grad, labels, self.num_classes)}  # (T, C)
        if records[0].proxies is not None:
            layout = self.proxy_layout or (lambda stacked: stacked)
            proxies = layout(stack(5))  # (T, C, K, d)
            t = len(records)
            if records[0].sims is not None:
                sims, sims_grad = stack(3), stack(4)  # (T, B, C, K)
                usage = sub_proxy_usage(sims, labels)  # (T, C, K), NaN for absent classes
                pull, push = pull_push_gradients(sims_grad, stack(1), labels, proxies)  # (T, C, K, d)
                vectors["proxy_grad_pull"] = pull.norm(dim=-1).reshape(t, -1)
                vectors["proxy_grad_push"] = push.norm(dim=-1).reshape(t, -1)
            else:  # the cosines s(x, c, k) = x̂·p̂ the proxy losses use
                sims = torch.einsum("tbd,tckd->tbck", F.normalize(stack(1), dim=-1), F.normalize(proxies, dim=-1))
                usage = sub_proxy_usage(sims, labels)
            if records[0].proxy_grad_norm is not None:
                vectors["proxy_grad"] = stack(6).reshape(t, -1)  # (T, C*K)
            elif records[0].proxy_grad is not None:
                vectors["proxy_grad"] = torch.linalg.vector_norm(layout(stack(7)), dim=-1).reshape(t, -1)
            vectors["proxy_usage"] = usage.reshape(t, -1)
            columns.update(proxy_geometries(proxies))
            c, k, d = proxies.shape[1:]
            columns["proxy/welch_floor"] = torch.full((t,), welch_floor(c * k, d), dtype=torch.float64)
        table = {key: value.tolist() for key, value in columns.items()}  # one device → host copy per statistic
        arrays = {key: value.detach().float().cpu().numpy() for key, value in vectors.items()}
        scalars = [{key: table[key][i] for key in table} for i in range(len(records))]
        return scalars, [{key: arrays[key][i] for key in arrays} for i in range(len(records))]


def _host_scalars(window: Sequence[Mapping[str, float | Tensor]]) -> list[dict[str, float]]:
    """The scalars of a window of steps as floats: the 0-d tensors of one key stacked and copied to the host once."""
    values = [{key: v for key, v in scalars.items() if not isinstance(v, Tensor)} for scalars in window]
    keys = {key for scalars in window for key, v in scalars.items() if isinstance(v, Tensor)}
    for key in keys:
        at = [i for i, scalars in enumerate(window) if isinstance(scalars.get(key), Tensor)]
        for i, v in zip(at, torch.stack([window[i][key].reshape(()) for i in at]).tolist()):
            values[i][key] = v
    return [{key: float(v) for key, v in step.items()} for step in values]


class RunLog:
    """A run's writer plus full logging's statistics: the trainer's and :class:`~proxylab.tracking.RunLogger`'s
    one way to log a step and write a snapshot.

    A step only appends what it has: its scalars (floats, or 0-d tensors left on their device), its per-parameter
    gradient norms and its :class:`StepRecord`. A window of steps is then turned into numbers and rows at once: one
    host copy per quantity, the statistics batched, SQLite rows written in one go, so a step of a small model pays
    for none of it. :meth:`flush` writes what is buffered; a step whose scalars are not all finite gets no
    statistics.

    Parameters
    ----------
    writer : RunWriter
        The open run (only rank 0 has one).
    num_classes : int
        C, for the per-class gradient mass.
    grad_groups : GradGroups, optional
        The groups whose per-parameter norms :meth:`step` receives (``grad_norm/<group>`` and ``grad_norm/total``).
    proxy_layout : callable, optional
        See :class:`StepStats`.
    window : int, default=64
        Steps buffered before they are written ...
    max_bytes : int, default=64 MiB
        ... or fewer, so that the buffered tensors stay under this size (large C·K·B) ...
    max_age_s : float, default=1.0
        ... or fewer, so that a live reader is never more than about a second behind (slow steps).
    """

    def __init__(self, writer, num_classes: int, *, grad_groups: GradGroups | None = None,
                 proxy_layout: Callable[[Tensor], Tensor] | None = None, window: int = 64,
                 max_bytes: int = 64 << 20, max_age_s: float = 1.0):
        self.writer = writer
        self.stats = StepStats(num_classes, proxy_layout=proxy_layout)
        self.window, self.max_bytes, self.max_age_s = window, max_bytes, max_age_s
        self.grad_groups = grad_groups
        self._rows: list[tuple[int, Mapping[str, float | Tensor], Sequence[Tensor] | None]] = []
        self._oldest = 0.0

    def step(self, step: int, scalars: Mapping[str, float | Tensor], record: StepRecord | None = None,
             param_grad_norms: Sequence[Tensor] | None = None) -> None:
        """Log a step: its scalars, its record and the per-parameter gradient norms of :attr:`grad_groups`
        (:meth:`GradGroups.per_param`)."""
        if not self._rows:
            self._oldest = time.monotonic()
        self._rows.append((step, scalars, param_grad_norms))
        if record is not None:
            self.stats.add(step, record)
        if (len(self._rows) >= self.window or self.stats.nbytes >= self.max_bytes
                or time.monotonic() - self._oldest >= self.max_age_s):
            self.flush()

    def flush(self) -> None:
        """Compute and write every buffered step (before anything that must see every row)."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        steps, records = self.stats.take()
        values = _host_scalars([scalars for _, scalars, _ in rows])
        with_norms = [i for i, (_, _, norms) in enumerate(rows) if norms is not None]
        if with_norms and self.grad_groups is not None:
            table = self.grad_groups.reduce([rows[i][2] for i in with_norms])  # T steps × P → per group
            for j, i in enumerate(with_norms):
                values[i].update({f"grad_norm/{name}": column[j] for name, column in table.items()})
        scalar_rows = [(step, scalars) for (step, _, _), scalars in zip(rows, values)]
        finite = {step for step, scalars in scalar_rows if all(math.isfinite(v) for v in scalars.values())}
        stats = list(self.stats.compute((s, r) for s, r in zip(steps, records) if s in finite))
        self.writer.log_steps(scalar_rows + [(step, scalars) for step, scalars, _ in stats],
                              [(step, vectors) for step, _, vectors in stats])

    def snapshot(self, step: int, **arrays: np.ndarray | None) -> None:
        """Write the snapshot of `step` (see :class:`proxylab.store.Snapshot` for the arrays) after every logged
        step's rows; non-finite embeddings or proxies raise :class:`TrainingError` and write nothing."""
        for key in ("embeddings", "proxies"):
            value = arrays.get(key)
            if value is not None and not np.isfinite(value).all():
                raise TrainingError(f"non-finite {key} at step {step}; the snapshot was not written")
        self.flush()
        self.writer.write_snapshot(step, **{k: v for k, v in arrays.items() if v is not None})
