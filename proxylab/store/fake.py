"""A realistic fake run written through :class:`RunWriter` (numpy only), for tests and dashboard work.

The fake mimics a multi-proxy loss on a multi-centre synthetic dataset: C classes with M modes
each; embeddings start as unstructured noise and converge, snapshot after snapshot, onto their
mode's centre; proxies (C, K, d) move from a random start towards the modes they cover (proxy j
of a class covers modes m with m % K == j; with K > M the surplus proxies stay put — dead; with
K = 1 the single proxy sits between its class's modes). Every scalar, vector and eval metric of
docs/architecture.md is logged, computed from these arrays so they tell a coherent story
(retrieval metrics are real retrieval metrics of the fake embeddings).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .layout import STATUSES, RunError
from .writer import RunWriter

_SOFT_ASSIGN_TEMPERATURE = 0.1  # SoftTriple's gamma: sub-proxy soft assignment
_GRAD_SHARPNESS = 8.0  # how fast a sample's gradient falls off once it is near its proxy


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _gini(v: np.ndarray) -> float:
    v = np.sort(v)
    n = v.size
    if n == 0 or v.sum() <= 0:
        return 0.0
    cum = np.cumsum(v)
    return float((n + 1 - 2 * (cum.sum() / cum[-1])) / n)


def _retrieval(emb: np.ndarray, labels: np.ndarray, ks=(1, 2, 4, 8)) -> dict[str, float]:
    """R@k, P@1, R-precision, MAP@R and nDCG@k with cosine similarity (query excluded)."""
    x = _unit(emb.astype(np.float64))
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :-1]  # drop the query itself (last)
    rel = labels[order] == labels[:, None]
    r_q = rel.sum(axis=1)
    out: dict[str, float] = {}
    for k in ks:
        out[f"R@{k}"] = float(rel[:, :k].any(axis=1).mean())
    out["P@1"] = float(rel[:, 0].mean())
    valid = r_q > 0
    rp, mapr = [], []
    for i in np.flatnonzero(valid):
        r = int(r_q[i])
        hits = rel[i, :r]
        rp.append(hits.mean())
        prec = np.cumsum(hits) / np.arange(1, r + 1)
        mapr.append(float((prec * hits).sum() / r))
    out["RP"] = float(np.mean(rp)) if rp else float("nan")
    out["MAP@R"] = float(np.mean(mapr)) if mapr else float("nan")
    for k in ks:
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (rel[valid, :k] * discount[: min(k, rel.shape[1])]).sum(axis=1)
        ideal = np.array([discount[: min(k, int(r))].sum() for r in r_q[valid]])
        out[f"nDCG@{k}"] = float((dcg / ideal).mean()) if ideal.size else float("nan")
    return out


def _nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean normalisation) of two labelings."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1)
    p = joint / joint.sum()
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (pa[:, None] * pb[None, :])[nz])).sum())
    ha = -float((pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = -float((pb[pb > 0] * np.log(pb[pb > 0])).sum())
    return mi / ((ha + hb) / 2) if ha + hb > 0 else 1.0


def _snapshot_schedule(steps: int, snapshot_every: int | None) -> list[int]:
    if snapshot_every is not None:
        return sorted(set(range(0, steps + 1, snapshot_every)) | {steps})
    # Dense early, sparse later, as the trainer does.
    fractions = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    return sorted({0, steps} | {int(round(steps * f)) for f in fractions})


def write_fake_run(store: str | os.PathLike, name: str, *, steps: int = 200, snapshot_every: int | None = None,
                   n: int = 600, classes: int = 6, modes_per_class: int = 3, k: int = 4, d: int = 16,
                   status: str = "finished", seed: int = 0, eval_every: int | None = None,
                   so_weight: float = 0.0, loss: str | None = None, exist_ok: bool = False) -> Path:
    """Write a plausible training run ``store/name`` through :class:`RunWriter`; return its folder.

    Parameters
    ----------
    store, name : path, str
        Run store and run name.
    steps : int
        Planned training steps (``progress.total_steps``); steps 1..steps are logged.
    snapshot_every : int or None
        Snapshot every this many steps (plus step 0 and the last); None: dense early, sparse later.
    n, classes, modes_per_class, k, d : int
        Points in the evaluation subset, classes C, modes per class M, proxies per class K, dim d.
    status : {"finished", "failed", "interrupted", "running"}
        Final status. All but ``finished`` stop at 60 % of ``steps``; ``failed`` records an error,
        ``running`` leaves the status ``running`` with the lock released, which readers show as
        ``interrupted`` until some writer re-opens the run (``RunWriter.open_existing``).
    seed : int
        Everything is deterministic given the seed.
    eval_every : int or None
        Evaluation period in steps (default ``steps // 10``).
    so_weight : float
        Recorded in the config and multiplies R_SO in ``loss/so``.
    loss : str or None
        Loss name recorded in the config (default ``"mpa"`` for K > 1, ``"proxy_anchor"`` for K = 1).
    exist_ok : bool
        Replace an existing run of that name.
    """
    for pname, value, low in (("steps", steps, 1), ("n", n, 2), ("classes", classes, 2),
                              ("modes_per_class", modes_per_class, 1), ("k", k, 1), ("d", d, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise RunError(f"write_fake_run: {pname} must be an int >= {low}, got {value!r}")
    if snapshot_every is not None and (not isinstance(snapshot_every, int) or snapshot_every < 1):
        raise RunError(f"write_fake_run: snapshot_every must be an int >= 1 or None, got {snapshot_every!r}")
    if status not in STATUSES:
        raise RunError(f"write_fake_run: status must be one of {', '.join(STATUSES)}, got {status!r}")
    rng = np.random.default_rng(seed)
    C, M, K = classes, modes_per_class, k
    loss = loss or ("mpa" if K > 1 else "proxy_anchor")

    # -- data: modes on the sphere, points assigned to modes, per-sample split --------------------
    mode_centres = _unit(rng.normal(size=(C * M, d)))
    mode_class = np.repeat(np.arange(C), M)
    modes = rng.permutation(np.arange(n) % (C * M)).astype(np.int64)
    labels = mode_class[modes].astype(np.int64)
    split = (rng.random(n) < 0.3).astype(np.int8)
    index = np.zeros(n, np.int64)
    for s in (0, 1):
        index[split == s] = np.arange(int((split == s).sum()))
    train = split == 0

    emb_start = rng.normal(size=(n, d))
    emb_end = 3.0 * mode_centres[modes] + 0.35 * rng.normal(size=(n, d))
    # Proxy j of class c covers modes m with m % K == j.
    prox_start = rng.normal(size=(C, K, d))
    prox_end = prox_start.copy()
    for c in range(C):
        for j in range(K):
            covered = [m for m in range(M) if m % K == j]
            if covered:
                prox_end[c, j] = 1.5 * _unit(mode_centres[[c * M + m for m in covered]].mean(axis=0))

    def state(step: int) -> tuple[np.ndarray, np.ndarray]:
        a = 1.0 - np.exp(-step / (steps / 4))
        b = 1.0 - np.exp(-step / (steps / 6))  # proxies move faster (proxy lr x100)
        jitter = np.random.default_rng([seed, step]).normal(size=(n, d))
        emb = (1 - a) * emb_start + a * emb_end + 0.1 * (1 - a) * jitter
        return emb.astype(np.float32), ((1 - b) * prox_start + b * prox_end).astype(np.float32)

    def per_sample(emb: np.ndarray, prox: np.ndarray):
        s = _unit(emb) @ _unit(prox).reshape(C * K, d).T  # (n, C*K) cosines
        s = s.reshape(n, C, K)
        q = _softmax(s / _SOFT_ASSIGN_TEMPERATURE, axis=2)
        class_sim = (q * s).sum(axis=2)  # (n, C) SoftTriple-style class similarity
        own = class_sim[np.arange(n), labels]
        grad = 1.0 / (1.0 + np.exp(_GRAD_SHARPNESS * (own - 0.5)))
        return s, q, class_sim, own, grad

    last = steps if status == "finished" else max(1, int(steps * 0.6))
    schedule = [s for s in _snapshot_schedule(steps, snapshot_every) if s <= last]
    eval_every = eval_every or max(1, steps // 10)
    warmup = max(1, steps // 10)
    base_lr = {"backbone": 1e-3, "head": 1e-3, "proxies": 1e-1}
    meta = {
        "config": {
            "loss": loss, "loss_params": {"proxies_per_class": K, "so_weight": so_weight, "so_scope": "all",
                                          "alpha": 32.0, "delta": 0.1},
            "proxies_per_class": K, "so_weight": so_weight, "data": "synthetic",
            "data_params": {"classes": C, "modes_per_class": M, "dim": d}, "model": "mlp", "embedding_dim": d,
            "steps": steps, "batch_size": 60, "lr": base_lr["backbone"], "proxy_lr_multiplier": 100.0,
            "optimizer": "adamw", "weight_decay": 1e-4, "grad_clip": 10.0, "seed": seed, "fake": True,
        },
        "seed": seed,
        "dataset": {
            "name": "synthetic", "split": "per-sample",
            "class_names": [f"class {c}" for c in range(C)],
            "mode_names": [f"class {c} / mode {m}" for c in range(C) for m in range(M)],
            "input_shape": [d], "has_modes": True,
            "num_train": int(train.sum()), "num_test": int((~train).sum()),
            "description": f"fake run: {C} classes x {M} modes on the unit sphere in R^{d}",
        },
        "progress": {"step": 0, "total_steps": steps},
    }
    noise = np.random.default_rng([seed, 10**6])
    with RunWriter.create(store, name, meta, exist_ok=exist_ok) as writer:
        for step in range(0, last + 1):
            emb, prox = state(step)
            s, q, class_sim, own, grad = per_sample(emb, prox)
            if step in schedule:
                writer.write_snapshot(step, embeddings=emb, labels=labels, modes=modes, split=split, index=index,
                                      proxies=prox, grad_norm=np.where(train, grad, np.nan).astype(np.float32))
            if step == 0:
                continue  # step 0 is the initial state: snapshot only, nothing trained yet
            g = grad[train]
            # Soft-assignment usage of each sub-proxy by its own class's training points.
            usage = np.zeros((C, K))
            for c in range(C):
                sel = train & (labels == c)
                usage[c] = q[sel, c].mean(axis=0) if sel.any() else 0.0
            pull = np.zeros((C, K))
            np.add.at(pull, labels[train], q[train, labels[train]] * g[:, None])
            neg_mask = labels[train][:, None] != np.arange(C)[None, :]
            push_w = 1.0 / (1.0 + np.exp(-_GRAD_SHARPNESS * (s[train] - 0.2)))  # (n_train, C, K)
            push = (push_w * neg_mask[:, :, None]).sum(axis=0) / max(1, int(train.sum())) * C
            proxy_grad = np.sqrt(pull**2 + push**2)
            class_grad = np.bincount(labels[train], weights=g, minlength=C)
            p_hat = _unit(prox.reshape(C * K, d).astype(np.float64))
            gram = p_hat @ p_hat.T
            off = gram[~np.eye(C * K, dtype=bool)]
            r_so = float(((gram - np.eye(C * K)) ** 2).sum())
            n_prox = C * K
            welch = (n_prox / d - 1) / (n_prox - 1) if n_prox > d else 0.0
            pos = float(np.log1p(np.exp(-_GRAD_SHARPNESS * (own[train] - 0.5))).mean())
            neg_sim = np.where(labels[train][:, None] == np.arange(C), -np.inf, class_sim[train])
            neg = float(np.log1p(np.exp(_GRAD_SHARPNESS * (neg_sim - 0.3)).sum(axis=1)).mean())
            so = so_weight * r_so
            top = np.sort(g)[::-1][: max(1, len(g) // 10)]
            lr_scale = step / warmup if step <= warmup else 0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, steps - warmup)))
            gn_backbone = float(np.sqrt((g**2).sum()) * 0.8 * (1 + 0.05 * noise.normal()))
            gn_head = float(np.sqrt((g**2).sum()) * 0.5 * (1 + 0.05 * noise.normal()))
            gn_proxies = float(np.linalg.norm(proxy_grad))
            writer.log_scalars(step, {
                "loss": pos + neg + so, "loss/pos": pos, "loss/neg": neg, "loss/reg": 0.0, "loss/so": so,
                "grad_norm/total": float(np.sqrt(gn_backbone**2 + gn_head**2 + gn_proxies**2)),
                "grad_norm/backbone": gn_backbone, "grad_norm/head": gn_head, "grad_norm/proxies": gn_proxies,
                **{f"lr/{group}": lr * lr_scale for group, lr in base_lr.items()},
                "sample_grad/mean": float(g.mean()), "sample_grad/max": float(g.max()),
                "sample_grad/top10_share": float(top.sum() / max(g.sum(), 1e-12)), "sample_grad/gini": _gini(g),
                "proxy/mean_cos": float(off.mean()), "proxy/max_cos": float(off.max()),
                "proxy/mean_sq_cos": float((off**2).mean()), "proxy/r_so": r_so, "proxy/welch_floor": welch,
                "time/step": float(0.012 + 0.002 * abs(noise.normal())),
            })
            writer.log_vectors(step, {
                "proxy_grad": proxy_grad.ravel(), "proxy_grad_pull": pull.ravel(), "proxy_grad_push": push.ravel(),
                "class_grad": class_grad, "proxy_usage": usage.ravel(),
            })
            if step % eval_every == 0 or step == last:
                p_unit = _unit(prox.astype(np.float64))
                for split_name, sel in (("train", train), ("test", ~train)):
                    metrics = _retrieval(emb[sel], labels[sel])
                    nearest = (_unit(emb[sel].astype(np.float64)) @ p_unit.reshape(C * K, d).T).argmax(axis=1)
                    metrics["NMI"] = _nmi(labels[sel], nearest // K)
                    best_cos, covered = [], []
                    for mode_id in np.unique(modes[sel]):
                        mean = _unit(emb[sel][modes[sel] == mode_id].mean(axis=0).astype(np.float64))
                        cos = p_unit.reshape(C * K, d) @ mean
                        cls = mode_class[mode_id]
                        best_cos.append(cos.reshape(C, K)[cls].max())
                        covered.append(cos.argmax() // K == cls)
                    metrics["mode_best_cos"] = float(np.mean(best_cos))
                    metrics["mode_coverage"] = float(np.mean(covered))
                    writer.log_eval(step, split_name, metrics)
        writer.flush()
        if status == "failed":
            writer.set_status("failed", error=f"FloatingPointError: loss became NaN at step {last + 1} (fake)")
        elif status in ("finished", "interrupted"):
            writer.set_status(status, error="KeyboardInterrupt" if status == "interrupted" else None)
    return writer.path
