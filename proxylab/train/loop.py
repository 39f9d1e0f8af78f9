"""The training loop. One step reads top to bottom (:meth:`Trainer.train_step`); everything DESIGN.md lists is
logged to the run store: loss parts, per-group gradient norms before clipping, per-proxy gradient norms split into
pull (through positive pairs) and push (through negative pairs), per-sample ‖∂L/∂f(x)‖ summaries, learning rates, proxy geometry,
periodic evaluation metrics and snapshots of a fixed evaluation subset.
"""
from __future__ import annotations

import math
import os
import platform
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from .. import __version__
from ..errors import TrainingError
from ..geometry import dead_sub_proxies, sub_proxy_share
from ..data import ClassBalancedSampler, make_dataset
from ..losses import make_loss
from ..metrics import evaluate, feasible_ks, missing_ks_note, seeded_subset
from ..models import make_model
from ..store import RunError, RunWriter, to_thumbnails, validate_run_name, write_eval_images
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from .config import TrainConfig, snapshot_schedule
from ..tracking.core import GradGroups, RunLog, StepRecord, sample_grad_norms
from .stopping import SIGNAL_NAMES, StopRequests, TrainingStopped, describe


#: make_dataset's own keywords, set by these config keys (so data_params must not hold them)
DATASET_KEYS = {"root": "data_root", "split": "split", "seed": "seed", "test_fraction": "test_fraction"}


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when present (the local rank's GPU under torchrun), else CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device must be 'auto', 'cpu' or 'cuda' with a CUDA GPU present, got 'cuda' (no GPU found)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def init_distributed() -> tuple[int, int]:
    """(rank, world size): set up torch.distributed when started by torchrun (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


class NullWriter:
    """What ranks other than 0 write to: nothing (only rank 0 writes the run)."""

    def __init__(self, path: Path):
        self.path = path

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def default_run_name(cfg: TrainConfig) -> str:
    so = f"-so{cfg.so_weight:g}" if cfg.so_weight else ""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{cfg.loss}-k{cfg.proxies_per_class}{so}-{cfg.data}-s{cfg.seed}-{stamp}"


def _check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,99}", tag):
        raise ValueError(f"tags must be 1-100 characters of A-Z a-z 0-9 . _ / : -, starting with a letter or "
                         f"digit, got {tag!r}")
    return tag


def batch_of(dataset, indices) -> tuple[Tensor, Tensor]:
    """Inputs (B, ...) and labels (B,) of the given rows of a LabeledDataset."""
    idx = np.asarray(indices, dtype=np.int64)
    getter = getattr(dataset, "get_batch", None)
    if getter is not None:
        return getter(idx)
    xs = [dataset[int(i)][0] for i in idx]
    return torch.stack(xs), torch.as_tensor(dataset.labels[idx], dtype=torch.long)


@dataclass
class StepResult:
    """What :meth:`Trainer.train_step` reports of one step.

    Attributes
    ----------
    finite : bool
        The loss and every group's gradient norm were finite and the update kept the parameters finite.
    loss : float
        The step's loss (possibly NaN/inf when not `finite`).
    parameters_nonfinite : bool
        The update itself made a parameter non-finite (skipping the step cannot undo it).
    scalars : dict of str to float
        What the step logs now: loss and its parts; under full logging the pre-clip group norms and lrs.
    record : StepRecord or None
        Under full logging, the tensors its other statistics are computed from (:class:`RunLog`).
    """

    finite: bool
    loss: float
    parameters_nonfinite: bool = False
    scalars: dict[str, float] = field(default_factory=dict)
    record: StepRecord | None = None


@dataclass
class EvalSet:
    """A fixed subset of one split, embedded for evaluation and snapshots."""

    split: str  # "train" or "test"
    indices: np.ndarray  # (N,) rows of the split's dataset
    labels: np.ndarray  # (N,) split-local labels
    modes: np.ndarray  # (N,) global mode ids, -1 unknown


class Trainer:
    """Train one run and write it to the run store.

    Parameters
    ----------
    config : TrainConfig
    store : path-like
        Run store directory (created if missing).
    name : str, optional
        Run name (validated); default: derived from the config and the time.
    resume : bool, default=False
        Continue the run ``name`` from its last checkpoint; the config is read from the run.
    progress : bool, default=True
        Show a tqdm progress bar on stderr.
    tags : sequence of str, default=()
        Labels stored in ``run.json`` (``tags``): the demo marks its teaching runs with the lesson role they play
        (e.g. ``coverage/multi``), so the dashboard opens each page on its tagged run, never on "the newest".
    """

    def __init__(self, config: TrainConfig | None, store, name: str | None = None, *, resume: bool = False,
                 progress: bool = True, tags: Sequence[str] = ()):
        self.store = Path(store)
        self._eval_notes: set[str] = set()  # notes already given (each is given once)
        self.rank, self.world_size = init_distributed()
        self.progress = progress and self.rank == 0
        if resume:
            if name is None:
                raise ValueError("resume needs the name of the run to continue")
            if self.rank == 0:
                self.writer = RunWriter.open_existing(self.store, name)
            else:
                self.writer = NullWriter(self.store / name)
            try:
                before = self.writer.meta_when_opened if self.rank == 0 else {}
                if before.get("status") == "finished":  # a finished run has nothing to resume
                    steps = (before.get("progress") or {}).get("step", "all")
                    raise RunError(f"run {name} already finished ({steps} steps); nothing to resume — train a new "
                                   "run to go further")
                saved = self.writer.meta.get("config") if self.rank == 0 else None
                if self.rank == 0 and not isinstance(saved, dict):
                    raise RunError(f"run {name!r}: run.json has no config to resume with, got {type(saved).__name__}")
                config = TrainConfig.from_dict(_broadcast(saved, self.world_size))
            except BaseException:
                self._abandon()
                raise
        else:
            if config is None:
                raise ValueError("config must be a TrainConfig, got None")
            name = name or _broadcast(default_run_name(config), self.world_size)
            validate_run_name(name)
            self.writer = None
        self.cfg = config
        self.name = name
        self.tags = [_check_tag(t) for t in tags]
        if resume:  # a resume that cannot start leaves the run exactly as it was
            try:
                self.device = pick_device(config.device)
                torch.manual_seed(config.seed)
                self._build()
                self.start_step = self._restore()
            except BaseException:
                self._abandon()
                raise
        else:
            self.device = pick_device(config.device)
            torch.manual_seed(config.seed)
            self._build()
            self.writer = RunWriter.create(self.store, name, self._meta()) if self.rank == 0 \
                else NullWriter(self.store / name)
            self.start_step = 0
            if self.rank == 0 and len(self.data.train.input_shape) == 3:
                self._write_thumbnails()
        self.log = RunLog(self.writer, self.num_classes)

    def _abandon(self) -> None:
        """Give up a resume before training: put run.json back as it was and release the lock."""
        abandon = getattr(self.writer, "abandon", None)
        if abandon is not None:
            abandon()

    # -- construction ----------------------------------------------------------------------------
    def _build(self) -> None:
        cfg = self.cfg
        own = sorted(set(cfg.data_params) & set(DATASET_KEYS))
        if own:  # make_dataset takes these as keywords of their own: a second value would be a TypeError
            raise ValueError(f"data_params must not set {own[0]!r}, which is a config key of its own "
                             f"({DATASET_KEYS[own[0]]}), got data_params={cfg.data_params!r}")
        self.data = make_dataset(cfg.data, root=cfg.data_root, split=cfg.split, seed=cfg.seed,
                                 test_fraction=cfg.test_fraction, **cfg.data_params)
        train = self.data.train
        self.num_classes = len(train.class_names)
        self.adjustments = self._fit_config_to_data()
        cfg = self.cfg
        self.model = make_model(cfg.model, train.input_shape, cfg.embedding_dim, normalize=cfg.normalize,
                                **cfg.model_params).to(self.device)
        self.loss_fn = make_loss(cfg.loss, self.num_classes, cfg.embedding_dim, **self._loss_params()).to(self.device)
        #: parameters per logged group (backbone, head, proxies), fixed for the run
        self.groups = {"backbone": list(self.model.backbone.parameters()), "head": list(self.model.head.parameters())}
        if self.loss_fn.proxies is not None:
            self.groups["proxies"] = [self.loss_fn.proxies]
        self.grad_groups = GradGroups(self.groups)
        proxy_mult = cfg.proxy_lr_multiplier or self.loss_fn.default_proxy_lr_multiplier
        groups = [
            {"name": "backbone", "params": list(self.model.backbone.parameters()), "lr": cfg.lr},
            {"name": "head", "params": list(self.model.head.parameters()), "lr": cfg.lr},
        ]
        if self.loss_fn.proxies is not None:
            groups.append({"name": "proxies", "params": [self.loss_fn.proxies], "lr": cfg.lr * proxy_mult,
                           "weight_decay": 0.0})
        groups = [g for g in groups if g["params"]]
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        else:
            opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
            self.optimizer = opt_cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        steps_per_epoch = max(1, math.ceil(len(train.labels) / (cfg.classes_per_batch * cfg.samples_per_class)))
        self.warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))
        self.sampler = ClassBalancedSampler(train.labels, cfg.classes_per_batch,
                                            cfg.samples_per_class, num_batches=cfg.steps,
                                            seed=cfg.seed + 7919 * self.rank,  # each rank its own batches
                                            imbalance=cfg.imbalance)
        self.snapshot_steps = set(snapshot_schedule(cfg.steps, cfg.num_snapshots))
        self.same_classes = list(self.data.test.class_names) == list(train.class_names)
        self.eval_sets = self._eval_sets()

    def _fit_config_to_data(self) -> list[str]:
        """Reduce values the data cannot honour to what it can, in ``self.cfg`` (so run.json records the value
        used, and a resume uses it again); returns one line per change, for the caller to show."""
        cfg, notes, used = self.cfg, [], {}
        if cfg.classes_per_batch > self.num_classes:
            used["classes_per_batch"] = self.num_classes
            notes.append(f"classes_per_batch={cfg.classes_per_batch} is more than the {self.num_classes} train "
                         f"classes; using {self.num_classes}")
        self.requested = {key: getattr(cfg, key) for key in used}
        self.cfg = cfg.replace(**used)
        return notes

    def _loss_params(self) -> dict[str, Any]:
        cfg = self.cfg
        params = dict(cfg.loss_params)
        from ..losses import LOSSES

        if LOSSES.get(cfg.loss).uses_proxies:
            params.setdefault("proxies_per_class", cfg.proxies_per_class)
            params.setdefault("so_weight", cfg.so_weight)
            params.setdefault("so_scope", cfg.so_scope)
        elif cfg.so_weight:
            raise ValueError(f"so_weight must be 0 for loss {cfg.loss!r}, which has no proxies, got {cfg.so_weight}")
        return params

    def _lr_factor(self, step: int) -> float:
        total = self.cfg.steps
        if self.cfg.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        if self.cfg.lr_schedule == "step":
            return 0.5 ** ((step >= total // 2) + (step >= (3 * total) // 4))
        return 1.0

    def _eval_sets(self) -> list[EvalSet]:
        """Fixed subsets for snapshots: half train, half test, drawn once from the seed."""
        out = []
        for split, ds, salt in (("train", self.data.train, 1), ("test", self.data.test, 2)):
            idx = seeded_subset(len(ds.labels), self.cfg.snapshot_points // 2, self.cfg.seed * 7919 + salt)
            modes = ds.modes[idx] if ds.modes is not None else np.full(len(idx), -1, dtype=np.int64)
            out.append(EvalSet(split, idx, np.asarray(ds.labels)[idx].astype(np.int64), modes.astype(np.int64)))
        return out

    def _meta(self) -> dict[str, Any]:
        info = dict(self.data.info)
        train_names = list(self.data.train.class_names)
        test_names = list(self.data.test.class_names)
        # Snapshot labels index this list: train classes first, then (zero-shot) the unseen test classes.
        info["snapshot_class_names"] = train_names if self.same_classes else train_names + test_names
        info["num_train_classes"] = len(train_names)
        return {
            "config": self.cfg.to_dict(),
            "config_requested": self.requested,  # values the data could not honour, as given (config: as used)
            "seed": self.cfg.seed,
            "dataset": info,
            "model": {"name": self.cfg.model, "embedding_dim": self.cfg.embedding_dim,
                      "num_parameters": sum(p.numel() for p in self.model.parameters())},
            "loss": {"name": self.cfg.loss, "proxies_per_class": self.loss_fn.proxies_per_class
                     if self.loss_fn.proxies is not None else 0, "repr": repr(self.loss_fn)},
            "versions": {"proxylab": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": platform.python_version()},
            "device": str(self.device),
            "source": "proxylab",
            "progress": {"step": 0, "total_steps": self.cfg.steps},
            "snapshot_steps": sorted(self.snapshot_steps),
            "distributed": {"world_size": self.world_size},
            "tags": self.tags,
        }

    # -- one optimisation step --------------------------------------------------------------------
    def train_step(self, step: int, x: Tensor, y: Tensor) -> StepResult:
        """Forward, backward, log-before-clip, clip, update. Returns the step's scalars and, under full
        logging, its :class:`StepRecord` (the other statistics, computed later by :class:`RunLog`)."""
        cfg, loss_fn, proxies = self.cfg, self.loss_fn, self.loss_fn.proxies
        full = cfg.full_logging
        frozen = step <= self.warmup_steps  # warm-up: backbone frozen, head + proxies train
        for p in self.model.backbone.parameters():
            p.requires_grad_(not frozen)

        if self.world_size > 1:
            self._broadcast_buffers()
        emb = self.model(x)  # (B, d)
        if emb.requires_grad:
            emb.retain_grad()
        else:  # a model without parameters (identity): ∂L/∂f(x) is still each sample's gradient
            emb.requires_grad_(True)
        out = loss_fn(emb, y)  # loss, named parts, similarities (B, C, K)
        with_proxies = full and out.sims is not None
        if with_proxies:
            out.sims.retain_grad()  # ∂L/∂s splits each proxy's gradient into pull and push, no second backward
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.world_size > 1:  # data parallel: every replica steps with the mean gradient of all ranks
            self._all_reduce_grads()

        norms = self.grad_groups.now()  # before clipping; a NaN/inf anywhere makes its group's norm non-finite
        losses = torch.stack([out.loss.detach(), *(v.detach() for v in out.parts.values())]).tolist()
        if not all(math.isfinite(v) for v in (*losses[:1], *norms.values())):
            return StepResult(finite=False, loss=losses[0])
        scalars = {"loss": losses[0], **{f"loss/{k}": v for k, v in zip(out.parts, losses[1:])}}
        record = None
        if full:  # the rest of the statistics are computed a window of steps at a time (RunLog)
            scalars.update({f"grad_norm/{k}": v for k, v in norms.items()})
            record = StepRecord(y, emb.detach(), emb.grad)
            if with_proxies:  # the proxies as this step saw them, their gradient norms before clipping
                record = record._replace(sims=out.sims.detach(), sims_grad=out.sims.grad,
                                         proxies=proxies.detach().clone(), proxy_grad_norm=proxies.grad.norm(dim=-1))
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_([p for gs in self.groups.values() for p in gs], cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if not all(torch.isfinite(p).all() for gs in self.groups.values() for p in gs):
            return StepResult(finite=False, loss=scalars["loss"], parameters_nonfinite=True)
        if full:
            scalars.update({f"lr/{g['name']}": g["lr"] for g in self.optimizer.param_groups})
        return StepResult(finite=True, loss=scalars["loss"], scalars=scalars, record=record)

    def _all_reduce_grads(self) -> None:
        """Average every gradient over the ranks, after backward and before the norms are logged.

        Kept by hand instead of ``DistributedDataParallel``: the proxies live in the loss, not the model; the
        warm-up freezes the backbone by switching ``requires_grad`` mid-run, which DDP's reducer does not allow
        after construction; and the logged norms must be those of the averaged gradient at a known point, before
        clipping. The result is the same as DDP's: every replica applies the mean gradient of all ranks.
        """
        import torch.distributed as dist

        for params in self.groups.values():
            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world_size

    def _broadcast_buffers(self) -> None:
        """Rank 0's BatchNorm running statistics on every rank before each step, as DDP's ``broadcast_buffers``:
        each rank normalises its own batch with that batch's statistics; the running averages (used in eval
        mode, so by every snapshot and evaluation) are rank 0's."""
        import torch.distributed as dist

        for buffer in self.model.buffers():
            dist.broadcast(buffer, src=0)

    def _replica_divergence(self) -> float:
        """Largest difference between any parameter on this rank and on rank 0 (0 when replicas agree; buffers are
        rank 0's by construction, see :meth:`_broadcast_buffers`)."""
        import torch.distributed as dist

        worst = torch.zeros((), device=self.device)
        for params in self.groups.values():
            for p in params:
                ref = p.detach().clone()
                dist.broadcast(ref, src=0)
                worst = torch.maximum(worst, (p.detach() - ref).abs().max())
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        return float(worst)


    # -- evaluation and snapshots -----------------------------------------------------------------
    @torch.no_grad()
    def embed(self, dataset, indices: np.ndarray, batch_size: int = 512) -> Tensor:
        """Embeddings (N, d) of the given rows, in eval mode."""
        was_training = self.model.training
        self.model.eval()
        chunks = []
        for start in range(0, len(indices), batch_size):
            x, _ = batch_of(dataset, indices[start:start + batch_size])
            chunks.append(self.model(x.to(self.device)))
        self.model.train(was_training)
        if not chunks:
            return torch.empty(0, self.cfg.embedding_dim, device=self.device)
        return torch.cat(chunks)

    def evaluate(self, step: int) -> dict[str, dict[str, float]]:
        """Retrieval metrics on the test split (and the train split), logged as evals; returns them.

        A cut-off k in ``eval_ks`` that a split is too small for (k > N - 1) is left out of that split's
        metrics, with a one-time note (a warning and run.json ``eval_notes``); a split with fewer than 2
        points logs no metrics.
        """
        results = {}
        proxies = self.loss_fn.proxies.detach() if self.loss_fn.proxies is not None else None
        for split, ds, salt in (("test", self.data.test, 3), ("train", self.data.train, 4)):
            idx = seeded_subset(len(ds.labels), self.cfg.eval_max_points, self.cfg.seed * 104729 + salt)
            ks, missing = feasible_ks(self.cfg.eval_ks, len(idx))
            if missing:
                self._note_once(missing_ks_note(split, len(idx), missing))
            if not ks:
                continue
            emb = self.embed(ds, idx)
            labels = torch.as_tensor(np.asarray(ds.labels)[idx], dtype=torch.long, device=emb.device)
            modes = None if ds.modes is None else torch.as_tensor(ds.modes[idx], device=emb.device)
            has_proxies = proxies is not None and (split == "train" or self.same_classes)
            metrics = evaluate(emb, labels, modes=modes if has_proxies else None,
                               proxies=proxies if has_proxies else None, ks=ks)
            if has_proxies:  # proxylab.geometry's definition, as the Proxies and Lessons pages count it
                share = sub_proxy_share(emb.cpu().numpy(), labels.cpu().numpy(), proxies.detach().cpu().numpy())
                metrics["dead_proxies"] = float(dead_sub_proxies(share).sum())
            metrics = {k: float(v) for k, v in metrics.items() if np.isscalar(v) or np.ndim(v) == 0}
            self.writer.log_eval(step, split, metrics)
            results[split] = metrics
        return results

    def _note_once(self, note: str) -> None:
        """Warn with ``note`` and add it to run.json ``eval_notes``, the first time only."""
        if note in self._eval_notes:
            return
        self._eval_notes.add(note)
        if self.rank == 0:  # under torchrun every rank meets the note; one says it
            warnings.warn(note, RuntimeWarning, stacklevel=3)
            notes = self.writer.meta.get("eval_notes") or []  # a resumed run keeps its earlier notes
            if note not in notes:
                self.writer.update_meta(eval_notes=[*notes, note])

    def snapshot(self, step: int) -> None:
        """Embeddings, labels, modes, split, proxies and per-sample gradient norms of the fixed subset."""
        parts = {"embeddings": [], "labels": [], "modes": [], "split": [], "index": [], "grad_norm": []}
        offset = 0 if self.same_classes else self.num_classes  # zero-shot test labels follow the train classes
        for es in self.eval_sets:
            ds = self.data.train if es.split == "train" else self.data.test
            if es.split == "train" and self.cfg.full_logging:
                emb, grad = self._embed_with_grad(ds, es)
            else:
                emb = self.embed(ds, es.indices)
                grad = torch.full((len(es.indices),), float("nan"))
            parts["embeddings"].append(emb.float().cpu().numpy())
            parts["labels"].append(es.labels + (offset if es.split == "test" else 0))
            parts["modes"].append(es.modes)
            parts["split"].append(np.full(len(es.indices), 0 if es.split == "train" else 1, dtype=np.int8))
            parts["index"].append(es.indices.astype(np.int64))
            parts["grad_norm"].append(grad.float().cpu().numpy())
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        if self.loss_fn.proxies is not None:
            arrays["proxies"] = self.loss_fn.proxies.detach().float().cpu().numpy()
        self.log.snapshot(step, **arrays)  # after every step's statistics up to it

    @torch.no_grad()
    def _embed_with_grad(self, ds, es: EvalSet) -> tuple[Tensor, Tensor]:
        """Embeddings and ‖∂L/∂f(x)‖ with the whole train subset taken as one batch (documented in the UI)."""
        emb = self.embed(ds, es.indices)
        return emb, sample_grad_norms(self.loss_fn, emb, torch.as_tensor(es.labels, device=emb.device))

    def _write_thumbnails(self) -> None:
        """Image data: thumbnails of the snapshot rows (train subset, then test subset), for the dashboard."""
        batches = [batch_of(self.data.train if es.split == "train" else self.data.test, es.indices)[0].numpy()
                   for es in self.eval_sets]
        write_eval_images(self.writer.path, to_thumbnails(np.concatenate(batches)))

    # -- checkpoints ------------------------------------------------------------------------------
    def _checkpoint(self, step: int) -> None:
        if self.rank != 0:  # replicas are equal (the test checks replica_param_max_diff): one writer, rank 0
            return
        # Commit first: a checkpoint at step s on disk then implies every row up to s is on disk (a kill -9
        # between the two leaves the older checkpoint, and resume truncates after it).
        self.log.flush()
        self.writer.flush()
        save_checkpoint(self.writer.path, {
            "step": step,
            "model": self.model.state_dict(),
            "loss": self.loss_fn.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        })

    def _restore(self) -> int:
        if not (self.writer.path / CHECKPOINT).exists() and _steps_done(self.store, self.name) == 0:
            # killed before the step-0 checkpoint was complete: no step was trained, so starting over is exact
            self.writer.truncate_after(0)
            return 0
        state = load_checkpoint(self.writer.path)
        try:
            self.model.load_state_dict(state["model"])
            self.loss_fn.load_state_dict(state["loss"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
            step = int(state["step"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise RunError(f"checkpoint of run {self.name!r} does not match its config: {str(e).splitlines()[0]}") \
                from None
        self.writer.truncate_after(step)  # drop what was logged after the checkpoint (a kill -9 leaves such rows)
        return step

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> Path:
        """Train from ``start_step`` to ``config.steps``; returns the run directory.

        Ctrl-C / SIGTERM stop at the next step boundary: the last completed step is checkpointed, the status
        becomes ``interrupted`` (the text says which signal) and :class:`TrainingStopped` is raised. A second
        signal stops at once, without a checkpoint. Errors mark the run ``failed``.
        """
        # first of all: from here on a signal waits for the end of a step (see proxylab.train.stopping)
        with StopRequests(announce=self.rank == 0) as stops:
            cfg, writer = self.cfg, self.writer
            step = self.start_step
            bar = _progress_bar(cfg.steps, step, self.name, enabled=self.progress)
            try:
                self.model.train()
                if step == 0:
                    self._checkpoint(0)  # a kill before the first periodic checkpoint can still be resumed
                if step == 0 and 0 in self.snapshot_steps:
                    self.snapshot(0)
                batches = iter(self.sampler)
                for _ in range(step):  # batches are a function of (seed, step): skip those already trained on
                    next(batches)
                last_meta = time.monotonic()
                while step < cfg.steps and not (signum := self._agreed_signal(stops)):
                    self._train_one_step(step + 1, next(batches), bar)
                    step += 1
                    if time.monotonic() - last_meta > 1.0 or step == cfg.steps:
                        writer.update_meta(progress={"step": step, "total_steps": cfg.steps})
                        last_meta = time.monotonic()
                if step < cfg.steps:  # a signal: the loop stopped between two steps, so `step` is whole
                    self._checkpoint(step)
                    writer.update_meta(progress={"step": step, "total_steps": cfg.steps},
                                       stop={"signal": SIGNAL_NAMES.get(signum, str(signum)), "step": step})
                    writer.set_status("interrupted", error=describe(signum) + f" at step {step}")
                    raise TrainingStopped(signum, step)
                self.log.flush()
                writer.update_meta(progress={"step": step, "total_steps": cfg.steps})
                if self.world_size > 1:
                    writer.update_meta(distributed={"world_size": self.world_size,
                                                    "replica_param_max_diff": self._replica_divergence()})
                writer.set_status("finished")
                if self.world_size > 1:  # leave together: a rank tearing gloo down while another still uses it
                    import torch.distributed as dist  # can abort ("terminate called without an active exception")

                    dist.barrier()
            except TrainingStopped:
                raise
            except KeyboardInterrupt:  # a second signal, mid-step: the last periodic checkpoint is the resume point
                writer.set_status("interrupted", error=f"stopped at once during step {step + 1}; resume continues "
                                                       "from the last checkpoint")
                raise
            except BaseException as e:
                try:
                    self.log.flush()  # the steps that did finish keep their statistics
                except Exception:  # noqa: BLE001 - the original error is the one to report
                    pass
                writer.set_status("failed", error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                raise
            finally:
                bar.close()
                writer.close()
                if self.world_size > 1:
                    import torch.distributed as dist

                    dist.destroy_process_group()
        return writer.path

    def _train_one_step(self, step: int, indices, bar) -> None:
        """Train, log, evaluate, snapshot and checkpoint step ``step`` (the loop's body)."""
        cfg, writer = self.cfg, self.writer
        x, y = batch_of(self.data.train, indices)
        t0 = time.perf_counter()
        result = self.train_step(step, x.to(self.device), y.to(self.device))
        if not result.finite:
            if result.parameters_nonfinite:  # the update itself overflowed: skipping cannot undo it
                raise TrainingError(f"parameters became non-finite after the update at step {step} "
                                    f"(loss={result.loss}); the learning rate is probably too large")
            msg = f"non-finite loss or gradient at step {step} (loss={result.loss})"
            if cfg.nan_policy == "stop":
                raise TrainingError(msg + "; the run stopped (set nan_policy='skip' to skip such steps)")
            self.optimizer.zero_grad(set_to_none=True)
            writer.log_scalars(step, {"skipped_nonfinite": 1.0})
            bar.update(1)
            return
        result.scalars["time/step"] = time.perf_counter() - t0
        self.log.step(step, result.scalars, result.record)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            test = self.evaluate(step).get("test", {})
            bar.set_postfix({k: f"{test[k]:.3f}" for k in ("R@1", "MAP@R") if k in test})
        if step in self.snapshot_steps:
            self.snapshot(step)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            self._checkpoint(step)
        bar.update(1)

    def _agreed_signal(self, stops: StopRequests) -> int:
        """The signal to stop on before the next step, 0 for none. Under several processes every rank must stop
        at the same step (or the others wait forever in the next all-reduce): the ranks agree on the largest
        signal number any of them received (SIGTERM over SIGINT)."""
        if self.world_size <= 1:
            return stops.signum or 0
        import torch.distributed as dist

        signum = torch.tensor([stops.signum or 0], device=self.device)
        dist.all_reduce(signum, op=dist.ReduceOp.MAX)
        return int(signum.item())


def _steps_done(store: Path, name: str) -> int:
    """Last step the run logged (run.json progress or the database); 0 when it never trained."""
    from ..store import open_run

    return open_run(store, name).progress.step


def _broadcast(value, world_size: int):
    """Rank 0's value on every rank (run names carry a timestamp, so ranks must agree on one)."""
    if world_size <= 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _progress_bar(total: int, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=name[:40], unit="step", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, leave=False)
