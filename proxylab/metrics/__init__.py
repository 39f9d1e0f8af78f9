"""Evaluation metrics: retrieval (exact chunked k-NN), clustering (NMI) and mode coverage.

Public API
----------
- :func:`retrieval_metrics` — R@k, P@k, nDCG@k, RP, MAP@R with cosine similarity, the query
  excluded, ties broken by (similarity desc, index asc), queries with no relevant item excluded.
- :func:`per_query_metrics` — the same, each query's values before the mean (a selection's metrics are the
  mean of its rows).
- :func:`knn` — exact chunked cosine k-NN (never an N x N matrix), same tie rule.
- :func:`nmi` — NMI of k-means (k = number of classes, fixed seed) against the labels.
- :func:`mode_coverage` — how well the proxies cover ground-truth modes.
- :func:`evaluate` — all of the above as one flat dict (what the trainer logs each eval).
- :func:`feasible_ks` — the cut-offs a set of N points can score (k <= N - 1) and the missing ones;
  ``retrieval_metrics``/``evaluate`` raise on a larger k, evaluation code drops it with a note.

Inputs may be numpy arrays or torch tensors; torch tensors on CUDA are processed there.
"""
from __future__ import annotations

from typing import Any

import torch

from .clustering import kmeans_labels, nmi
from .coverage import mode_coverage
from .inputs import as_labels, as_tensor, feasible_ks, missing_ks_note, seeded_subset
from .neighbours import knn
from .retrieval import PerQuery, per_query_metrics, retrieval_metrics

__all__ = ["PerQuery", "evaluate", "feasible_ks", "kmeans_labels", "knn", "missing_ks_note", "mode_coverage", "nmi",
           "per_query_metrics", "retrieval_metrics", "seeded_subset"]


def evaluate(
    embeddings: Any,
    labels: Any,
    modes: Any = None,
    proxies: Any = None,
    ks: Any = (1, 2, 4, 8),
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    max_queries: int | None = None,
) -> dict[str, float]:
    """Every metric of one evaluation set, as a flat dict of scalars.

    Parameters
    ----------
    embeddings : array or Tensor, shape (N, d)
    labels : array or Tensor of int, shape (N,)
    modes : array or Tensor of int, shape (N,), optional
        Ground-truth mode ids, -1 = unknown.
    proxies : array or Tensor, shape (C, K, d), optional
        The loss's proxies. Pass them only when ``labels`` index the proxies' classes (e.g. the
        training split, or a per-sample split); on a zero-shot test split the classes differ.
    ks : int or sequence of int, default=(1, 2, 4, 8)
        Each must be <= N - 1 (a ValueError otherwise); :func:`feasible_ks` splits off the others.
    seed : int, default=0
        k-means seed for NMI.
    chunk_size : int, optional
        Queries per k-NN chunk (None: from the memory budget).
    max_queries : int, optional
        For large sets (an imported million points): at most this many queries, a fixed random subset
        (:func:`seeded_subset` with ``seed``), each retrieving from all N points (itself excluded); NMI is
        computed on the same subset. Retrieval metrics are then means over the sampled queries, an unbiased
        estimate of the all-query mean. None (default): every point is a query.

    Returns
    -------
    dict[str, float]
        The keys of :func:`retrieval_metrics` (``R@k``, ``P@k``, ``nDCG@k``, ``RP``, ``MAP@R``,
        ``num_queries``, ``num_excluded``), ``NMI``, and — when ``modes`` and ``proxies`` are given
        and at least one mode is known — ``mode_coverage`` and ``mode_best_cos``.

    Raises
    ------
    ValueError
        On invalid input, including labels outside [0, C) when proxies are given.
    """
    if max_queries is not None and (isinstance(max_queries, bool) or not isinstance(max_queries, int)
                                    or max_queries < 2):
        raise ValueError(f"max_queries must be an int >= 2 or None, got {max_queries!r}")
    x = as_tensor(embeddings, "embeddings") if max_queries is not None else None
    if x is not None and x.ndim == 2 and x.shape[0] > max_queries:
        rows = seeded_subset(x.shape[0], max_queries, seed)
        q = torch.as_tensor(rows, device=x.device)
        y = as_labels(labels, "labels", x.shape[0], x.device)
        result: dict[str, float] = dict(retrieval_metrics(x[q], y[q], ks, gallery=x, gallery_labels=y,
                                                          query_indices=rows, chunk_size=chunk_size))
        result["NMI"] = nmi(x[q], y[q], seed=seed)
    else:
        result = dict(retrieval_metrics(embeddings, labels, ks, chunk_size=chunk_size))
        result["NMI"] = nmi(embeddings, labels, seed=seed)
    if modes is not None and proxies is not None:
        n = as_tensor(embeddings, "embeddings").shape[0]
        if bool((as_labels(modes, "modes", n, None) >= 0).any()):
            coverage = mode_coverage(embeddings, labels, modes, proxies)
            result["mode_coverage"] = coverage["mode_coverage"]
            result["mode_best_cos"] = coverage["mode_best_cos"]
    return result
