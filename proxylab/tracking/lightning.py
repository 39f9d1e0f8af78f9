"""A Lightning callback that logs a ``LightningModule``'s training to the run store (needs ``lightning``).

::

    trainer = L.Trainer(callbacks=[ProxylabCallback("my-run", eval_inputs=x, eval_labels=y, every_n_steps=50)])

Every optimizer step: the loss, per-group gradient norms (the module's parameters and its proxies, before any
clipping) and per-proxy norms; with the module's batch embeddings in an attribute (``embeddings_attr``, default
``"embeddings"``), per-sample ‖∂L/∂f(x)‖ too. Every `every_n_steps` steps, and at the start and end of the fit, a
snapshot of the eval subset: its embeddings (``module(eval_inputs)``), the proxies of the module's loss
(``loss_attr``, default ``"loss_fn"``: a pytorch-metric-learning or proxylab loss) and retrieval metrics.
"""
from __future__ import annotations

from typing import Any, Callable

import lightning as L
from torch import Tensor

from .logger import RunLogger


def _labels_of_batch(batch: Any) -> Tensor | None:
    """The labels of an ``(inputs, labels, ...)`` batch; None for any other shape of batch."""
    return batch[1] if isinstance(batch, (tuple, list)) and len(batch) >= 2 else None


class ProxylabCallback(L.Callback):
    """Log the fit of a ``LightningModule`` as a run of the store, live (see :class:`RunLogger`).

    Parameters
    ----------
    name : str
        Run name.
    every_n_steps : int, default=50
        Snapshot period in optimizer steps.
    loss_attr : str, default="loss_fn"
        Attribute of the module holding its loss (where the proxies are found); None for none.
    embeddings_attr : str, default="embeddings"
        Attribute the module's ``training_step`` sets to the batch's embeddings (for per-sample gradient norms).
    labels_of : callable, default: ``batch[1]``
        Batch → its labels.
    **logger_kwargs
        Passed to :class:`RunLogger` (``store``, ``config``, ``class_names``, ``eval_inputs``, ``eval_labels``,
        ``eval_modes``, ``eval_split``, ``proxies_per_class``, ``ks``, ``tags``, ``overwrite``).
    """

    def __init__(self, name: str, *, every_n_steps: int = 50, loss_attr: str | None = "loss_fn",
                 embeddings_attr: str = "embeddings", labels_of: Callable[[Any], Tensor | None] = _labels_of_batch,
                 **logger_kwargs: Any):
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"every_n_steps must be an int >= 1, got {every_n_steps!r}")
        self.name, self.every_n_steps = name, every_n_steps
        self.loss_attr, self.embeddings_attr, self.labels_of = loss_attr, embeddings_attr, labels_of
        self.logger_kwargs = logger_kwargs
        self.run: RunLogger | None = None
        self._labels: Tensor | None = None
        self._loss: Tensor | None = None
        self._snapshot_step: int | None = None

    def _snapshot(self, step: int) -> None:
        """A snapshot at `step`, once (gradient accumulation ends several batches on one optimizer step)."""
        if self.run.eval_inputs is not None and step != self._snapshot_step:
            self._snapshot_step = step
            self.run.snapshot(step)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loss = getattr(pl_module, self.loss_attr) if self.loss_attr else None
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self.run = RunLogger(self.name, model=pl_module, loss=loss, total_steps=total, **self.logger_kwargs)
        self._snapshot(trainer.global_step)

    def on_train_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int) -> None:
        self._labels = self.labels_of(batch)

    def on_before_backward(self, trainer, pl_module, loss: Tensor) -> None:
        self._loss = loss.detach()
        emb = getattr(pl_module, self.embeddings_attr, None)
        if isinstance(emb, Tensor) and emb.requires_grad:
            emb.retain_grad()

    def on_after_backward(self, trainer, pl_module) -> None:
        emb = getattr(pl_module, self.embeddings_attr, None)
        usable = isinstance(emb, Tensor) and emb.grad is not None and self._labels is not None
        self.run.log_gradients(self._loss, step=trainer.global_step + 1, embeddings=emb if usable else None,
                               labels=self._labels if usable else None)

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._snapshot(trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._snapshot(trainer.global_step)
        self.run.finish()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.run is not None:
            self.run.__exit__(type(exception), exception, exception.__traceback__)


__all__ = ["ProxylabCallback"]
