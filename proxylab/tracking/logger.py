"""``RunLogger``: log a PyTorch training loop of your own to the run store, live, like TensorBoard's writer.

::

    with RunLogger("my-run", config={"lr": 1e-3}, class_names=names, model=model, loss=loss_fn,
                   eval_inputs=x_eval, eval_labels=y_eval) as run:
        for step in range(1, 301):
            emb = model(x)
            loss = loss_fn(emb, y)
            optimizer.zero_grad()
            run.backward(loss, step=step, embeddings=emb, labels=y)   # loss.backward() + gradient norms
            optimizer.step()
            if step % 50 == 0:
                run.snapshot(step)        # eval subset embedded, proxies read from the loss, metrics

What it writes is what ``proxylab train`` writes (one logging core, :mod:`proxylab.tracking.core`), so every page of
the dashboard, the player included, shows the run while it trains.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..store import RunError, RunExistsError, RunWriter, default_store, to_thumbnails, validate_run_name, write_eval_images
from ..store.snapshot import normalize_snapshot_arrays
from .adapters import ProxySource, find_proxies
from .core import GradGroups, RunLog, StepRecord, loss_value, sample_grad_norms

#: what a logged run records as its source in run.json (trained runs: "proxylab", imports: "import")
SOURCE = "logger"


def _rank() -> int:
    """This process's rank under torch.distributed / torchrun (0 when not distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0") or 0)


def _float(value: Any, what: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what} must be a number or a one-element tensor, got shape {tuple(value.shape)}")
        return float(value.detach())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a real number, got {value!r}") from None


def _array(value: Any, what: str, n: int | None = None, dtype=None) -> np.ndarray | None:
    """A 1-D array of `n` entries (a tensor or array-like) as numpy, or None."""
    if value is None:
        return None
    arr = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
    arr = arr.astype(dtype) if dtype is not None else arr
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise ValueError(f"{what} must have shape ({n if n is not None else 'N'},), got {arr.shape}")
    return arr


def _param_groups(groups: Mapping[str, Any]) -> dict[str, list[Tensor]]:
    """Group name → parameters (a module's, an iterable's, or one tensor)."""
    out = {}
    for name, params in groups.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"gradient group names must be non-empty strings without '/', got {name!r}")
        if isinstance(params, nn.Module):
            out[name] = [p for p in params.parameters() if p.requires_grad]
        elif isinstance(params, Tensor):
            out[name] = [params]
        else:
            out[name] = list(params)
    return out


class RunLogger:
    """One run of a training loop of your own, written to the run store as it trains.

    Only rank 0 writes (under torchrun every other rank's logger does nothing but ``backward``). Use it as a
    context manager: a normal exit marks the run ``finished``, an exception ``failed`` (Ctrl-C ``interrupted``)
    with the error; a killed process leaves everything committed readable (the reader shows it interrupted).
    Scalars are committed at least every second, a snapshot at once.

    Parameters
    ----------
    name : str
        Run name (letters, digits, ``._-``).
    store : path-like, optional
        Run store (default ``$PROXYLAB_STORE`` or ``./checkpoints``).
    config : dict, optional
        Your hyperparameters (JSON-serialisable); shown by the dashboard and ``proxylab list``.
    class_names : sequence of str, optional
        Names of the classes the labels index.
    model : nn.Module, optional
        The embedder: :meth:`snapshot` embeds ``eval_inputs`` with it (eval mode, no gradient).
    loss : callable, optional
        ``loss(embeddings, labels)`` → scalar (a pytorch-metric-learning loss, a proxylab loss, your own): its
        proxies are found (:func:`find_proxies`) and read at every snapshot, and a snapshot stores each
        training sample's ‖∂L/∂f(x)‖ with the eval subset's training points taken as one batch.
    proxies : nn.Module or Tensor, optional
        Where the proxies are, when not in `loss` (or to pick one of several).
    proxies_per_class : int, optional
        K, for flat (C·K, d) proxies.
    groups : mapping of str to module / tensors, optional
        Parameter groups whose gradient norms :meth:`backward` logs (default: ``{"model": model, "proxies": P}``).
    eval_inputs : Tensor, optional
        (N, ...) fixed evaluation subset that :meth:`snapshot` embeds (≤ a few thousand rows).
    eval_labels, eval_modes, eval_split : array-like of shape (N,), optional
        Its labels (int), ground-truth modes (-1 unknown) and split (0 train, 1 test).
    total_steps : int, optional
        Planned steps (the dashboard's progress bar).
    ks : sequence of int, default=(1, 2, 4, 8)
        Cut-offs of the retrieval metrics a snapshot computes.
    tags : sequence of str, default=()
        Labels stored in run.json.
    overwrite : bool, default=False
        Replace an existing run of that name.
    """

    def __init__(self, name: str, *, store: str | os.PathLike | None = None, config: Mapping[str, Any] | None = None,
                 class_names: Sequence[str] | None = None, model: nn.Module | None = None,
                 loss: Callable[..., Any] | None = None, proxies: nn.Module | Tensor | None = None,
                 proxies_per_class: int | None = None, groups: Mapping[str, Any] | None = None,
                 eval_inputs: Tensor | np.ndarray | None = None, eval_labels: Any = None, eval_modes: Any = None,
                 eval_split: Any = None, total_steps: int | None = None, ks: Sequence[int] = (1, 2, 4, 8),
                 tags: Sequence[str] = (), overwrite: bool = False):
        validate_run_name(name)
        self.name = name
        self.store = Path(store) if store is not None else Path(default_store())
        self.model, self.loss = model, loss
        self.source: ProxySource | None = find_proxies(proxies if proxies is not None else
                                                       loss if isinstance(loss, nn.Module) else None, proxies_per_class)
        if groups is None:  # the proxies on their own, even when the model holds the loss (a LightningModule)
            proxy = self.source.parameter if self.source else None
            groups = {"model": [p for p in model.parameters() if p.requires_grad and p is not proxy]} if model else {}
            if proxy is not None:
                groups["proxies"] = [proxy]
        self.groups = _param_groups(groups)
        if total_steps is not None and (isinstance(total_steps, bool) or not isinstance(total_steps, int)
                                        or total_steps < 1):
            raise ValueError(f"total_steps must be an int >= 1 or None, got {total_steps!r}")
        self.total_steps = total_steps
        self.ks = tuple(int(k) for k in ks)
        self._set_eval(eval_inputs, eval_labels, eval_modes, eval_split)
        self.class_names = [str(c) for c in class_names] if class_names is not None else None
        num_classes = self.source.num_classes if self.source else None
        if num_classes is None:
            known = [len(self.class_names or []), int(self.eval_labels.max()) + 1 if self.eval_labels is not None
                     and len(self.eval_labels) else 0]
            num_classes = max(known) or None
        self.num_classes = num_classes
        self.active = _rank() == 0
        self._last_meta = 0.0
        self._notes: list[str] = []
        self.path = self.store / name
        self.writer = None
        if self.active:
            try:
                self.writer = RunWriter.create(self.store, name, self._meta(dict(config or {}), list(tags)),
                                               exist_ok=overwrite)
            except RunExistsError:
                raise RunError(f"run {name} already exists in {self.store}; pick another name or pass "
                               "overwrite=True") from None
        self.log_core = RunLog(self.writer, num_classes or 1, grad_groups=GradGroups(self.groups),
                               proxy_layout=self.source.stacked_ckd if self.source else None) if self.active else None
        if self.active and self.eval_inputs is not None and self.eval_inputs.ndim == 4:
            write_eval_images(self.writer.path, to_thumbnails(self.eval_inputs.detach().cpu().numpy()))

    # -- set-up -----------------------------------------------------------------------------------
    def _set_eval(self, inputs, labels, modes, split) -> None:
        self.eval_inputs = None if inputs is None else torch.as_tensor(inputs)
        n = None if self.eval_inputs is None else len(self.eval_inputs)
        self.eval_labels = _array(labels, "eval_labels", n, np.int64)
        if self.eval_inputs is not None and self.eval_labels is None:
            raise ValueError("eval_inputs needs eval_labels (one int label per row), got none")
        n = n if n is not None else (None if self.eval_labels is None else len(self.eval_labels))
        self.eval_modes = _array(modes, "eval_modes", n, np.int64)
        self.eval_split = _array(split, "eval_split", n, np.int8)

    def _meta(self, config: dict[str, Any], tags: list[str]) -> dict[str, Any]:
        src = self.source
        known = {
            "loss": type(self.loss).__name__ if self.loss is not None else None,
            "loss_module": type(self.loss).__module__ if self.loss is not None else None,
            "model": type(self.model).__name__ if self.model is not None else None,
            "proxies_per_class": src.per_class if src else None,
            "num_proxy_classes": src.num_classes if src else None,
            "proxies_from": src.name if src else None,
            "embedding_dim": int(src.proxies().shape[-1]) if src else None,
            "eval_ks": list(self.ks),
        }
        config = {**{k: v for k, v in known.items() if v is not None}, **config}  # the user's keys win
        names = self.class_names or []
        return {
            "source": SOURCE, "config": config, "tags": tags,
            "dataset": {"name": str(config.get("data", "your own")), "class_names": names,
                        "snapshot_class_names": names, "has_modes": self.eval_modes is not None,
                        "num_train_classes": src.num_classes if src else len(names) or None},
            "progress": {"step": 0, "total_steps": self.total_steps},
            "versions": {"torch": torch.__version__},
        }

    # -- per step ---------------------------------------------------------------------------------
    def log(self, values: Mapping[str, Any], step: int) -> None:
        """Record scalars (name → number or one-element tensor) at `step`, e.g. ``run.log({"lr": lr}, step)``."""
        if not self.active:
            return
        self.writer.log_scalars(step, {k: _float(v, f"scalar {k!r}") for k, v in values.items()})
        self._progress(step)

    def backward(self, loss: Tensor, *, step: int, embeddings: Tensor | None = None, labels: Tensor | None = None,
                 **backward_kwargs: Any) -> None:
        """``loss.backward(**backward_kwargs)``, then :meth:`log_gradients`: the one call around backward.

        Parameters
        ----------
        loss : Tensor
            The scalar loss of the step.
        step : int
            The step (≥ 0, increasing).
        embeddings : Tensor, optional
            (B, d) the batch's embeddings the loss was computed from (their gradient is kept for this call).
        labels : Tensor, optional
            (B,) the batch's labels (needed with `embeddings`).
        """
        loss = loss_value(loss)
        if self.active and embeddings is not None and embeddings.requires_grad:
            embeddings.retain_grad()
        loss.backward(**backward_kwargs)
        self.log_gradients(loss, step=step, embeddings=embeddings, labels=labels)

    def log_gradients(self, loss: Tensor | float, *, step: int, embeddings: Tensor | None = None,
                      labels: Tensor | None = None) -> None:
        """Log a step's gradients after a backward of your own (Lightning, a grad scaler): per-group norms (before
        any clipping you do next), per-proxy norms, and per-sample ‖∂L/∂f(x)‖ of `embeddings` (summaries and
        per-class mass; call ``embeddings.retain_grad()`` before that backward), with the loss.

        The step keeps references and a few small copies only (no host copy); the numbers are computed and
        written a window of steps at a time (:class:`~proxylab.tracking.core.RunLog`), so they reach the store
        within about a second. A step whose loss or norms are not finite gets no statistics."""
        if not self.active:
            return
        if embeddings is not None and labels is None:
            raise ValueError("log_gradients: embeddings need their labels (labels=...), got none")
        value = loss.detach() if isinstance(loss, Tensor) else _float(loss, "loss")
        if isinstance(value, Tensor) and value.numel() != 1:
            raise ValueError(f"loss must be a number or a one-element tensor, got shape {tuple(value.shape)}")
        record = None
        grad = None if embeddings is None else embeddings.grad
        if grad is not None:
            if not (isinstance(labels, Tensor) and labels.device == grad.device and labels.dtype == torch.long):
                labels = torch.as_tensor(labels, device=grad.device).long()
            proxy = self.source.parameter if self.source is not None else None
            if proxy is not None and proxy.grad is not None:  # plain copies: the next update and clipping change both
                record = StepRecord(labels, embeddings.detach(), grad, proxies=proxy.detach().clone(),
                                    proxy_grad=proxy.grad.clone())
            else:
                record = StepRecord(labels, embeddings.detach(), grad)
        self.log_core.step(step, {"loss": value}, record, self.log_core.grad_groups.per_param())
        self._progress(step)

    def _progress(self, step: int) -> None:
        if time.monotonic() - self._last_meta > 1.0:  # run.json changes: a dashboard following the store reruns
            self._last_meta = time.monotonic()
            self.writer.update_meta(progress={"step": int(step), "total_steps": self.total_steps})

    # -- snapshots --------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, inputs: Tensor, batch_size: int = 512) -> Tensor:
        """`inputs` through :attr:`model` in eval mode (its training mode is restored), (N, d)."""
        if self.model is None:
            raise ValueError("snapshot: pass embeddings=..., or give the logger model= to embed eval_inputs")
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        was_training = self.model.training
        self.model.eval()
        try:
            return torch.cat([self.model(inputs[i:i + batch_size].to(device)) for i in range(0, len(inputs), batch_size)])
        finally:
            self.model.train(was_training)

    def snapshot(self, step: int, *, embeddings: Tensor | np.ndarray | None = None, labels: Any = None,
                 modes: Any = None, split: Any = None, proxies: Tensor | np.ndarray | None = None,
                 grad_norm: Any = None, evaluate: bool = True) -> None:
        """Store the embeddings of the evaluation subset at `step` (the player's frames), with proxies (C, d) or
        (C, K, d), per-sample gradient norms and, with `evaluate`, retrieval metrics (R@k, MAP@R, nDCG@k, NMI,
        mode coverage) of its test points (every point when there is no split).

        Every argument defaults to what the logger knows: `embeddings` = ``model(eval_inputs)``, `labels` / `modes`
        / `split` = the eval subset's, `proxies` = the loss's now, `grad_norm` = ‖∂L/∂f(x)‖ of the training points
        under `loss` (NaN for test points, and everywhere without a loss).
        """
        if not self.active:
            return
        if embeddings is None:
            if self.eval_inputs is None:
                raise ValueError("snapshot: pass embeddings=..., or give the logger eval_inputs= to embed")
            embeddings = self.embed(self.eval_inputs)
        emb = torch.as_tensor(embeddings).detach()
        if emb.ndim != 2:
            raise ValueError(f"snapshot: embeddings must have shape (N, d), got {tuple(emb.shape)}")
        n = len(emb)
        labels = _array(labels, "labels", n, np.int64) if labels is not None else self.eval_labels
        if labels is None or len(labels) != n:
            raise ValueError(f"snapshot: labels must have shape ({n},), got "
                             f"{None if labels is None else labels.shape}")
        modes = _array(modes, "modes", n, np.int64) if modes is not None else self._default(self.eval_modes, n)
        split = _array(split, "split", n, np.int8) if split is not None else self._default(self.eval_split, n)
        prox = self._proxies(proxies)
        if grad_norm is None:
            grad_norm = self._sample_grads(emb, labels, split)
        arrays = dict(embeddings=emb.float().cpu().numpy(), labels=labels, modes=modes, split=split, proxies=prox,
                      grad_norm=_array(grad_norm, "grad_norm", n, np.float32))
        self.log_core.snapshot(step, **arrays)
        if evaluate:
            self._evaluate(normalize_snapshot_arrays(step, {k: v for k, v in arrays.items() if v is not None},
                                                     f"snapshot(step={step})"), split is not None)
        self._last_meta = time.monotonic()

    @staticmethod
    def _default(values: np.ndarray | None, n: int) -> np.ndarray | None:
        return values if values is not None and len(values) == n else None

    def _proxies(self, given) -> np.ndarray | None:
        if given is not None:
            p = given.detach().cpu().numpy() if isinstance(given, Tensor) else np.asarray(given)
            return p[:, None, :] if p.ndim == 2 else p  # (C, d): one proxy per class
        return None if self.source is None else self.source.proxies().float().cpu().numpy()

    def _sample_grads(self, emb: Tensor, labels: np.ndarray, split: np.ndarray | None) -> np.ndarray:
        out = np.full(len(emb), np.nan, np.float32)
        if self.loss is None:
            return out
        rows = np.flatnonzero(split == 0) if split is not None else np.arange(len(emb))
        if self.source is not None:  # a proxy loss can only score the classes it has proxies for
            rows = rows[labels[rows] < self.source.num_classes]
        if len(rows) < 2:
            return out
        y = torch.as_tensor(labels[rows], device=emb.device)
        out[rows] = sample_grad_norms(self.loss, emb[torch.as_tensor(rows, device=emb.device)], y).float().cpu()
        return out

    def _evaluate(self, snap, has_split: bool) -> None:
        from ..importing.writer import snapshot_metrics  # the metrics an imported run gets, same code

        notes: list[str] = []
        for split_name, metrics in snapshot_metrics(snap, has_split, self.ks, notes).items():
            self.writer.log_eval(snap.step, split_name, metrics)
        self.writer.flush()
        fresh = [n for n in notes if n not in self._notes]
        if fresh:
            self._notes += fresh
            for note in fresh:
                warnings.warn(note, RuntimeWarning, stacklevel=3)
            self.writer.update_meta(eval_notes=self._notes)

    # -- closing ----------------------------------------------------------------------------------
    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Write every buffered statistic, mark the run (default ``finished``) and release it (idempotent)."""
        if not self.active or self.writer.closed:
            return
        try:
            self.log_core.flush()
            self.writer.set_status(status, error=error)
        finally:
            self.writer.close()

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
            return
        if not self.active or self.writer.closed:
            return
        try:
            self.log_core.flush()  # the steps that did finish keep their statistics
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        self.writer.__exit__(exc_type, exc, tb)  # failed (interrupted for Ctrl-C) with the error, closed

    def __repr__(self) -> str:
        return f"RunLogger({str(self.path)!r}, {'rank 0' if self.active else 'inactive (rank != 0)'})"


__all__ = ["RunLogger", "SOURCE"]
