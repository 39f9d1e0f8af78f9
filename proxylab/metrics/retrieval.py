"""Retrieval metrics from an exact chunked k-NN: Recall@k, Precision@k, nDCG@k, R-Precision, MAP@R.

Definitions (SCIENCE.md section 2). For a query q with label y_q, the candidates are the gallery
items except q itself, ranked by (cosine similarity desc, gallery index asc); rel_i = 1 when the
i-th candidate has label y_q; R_q = number of relevant candidates.

- R@k (hit rate, the DML convention) = 1 if any rel_i = 1 for i <= k.
- P@k = (1/k) sum_{i<=k} rel_i.
- nDCG@k = DCG@k / IDCG@k, DCG@k = sum_{i<=k} rel_i / log2(i+1),
  IDCG@k = sum_{i<=min(k, R_q)} 1 / log2(i+1). Ties are *not* averaged (unlike sklearn's
  ``ndcg_score``): the stable order decides.
- RP = (1/R_q) sum_{i<=R_q} rel_i.
- MAP@R = (1/R_q) sum_{i<=R_q} P(i) rel_i, P(i) = (1/i) sum_{j<=i} rel_j (Musgrave et al., "A Metric
  Learning Reality Check", ECCV 2020).

Every metric is the mean over queries with R_q >= 1; queries with R_q = 0 (a label with no other
gallery item) are excluded and counted in ``num_excluded``.

Cost: MAP@R and RP need each query's top R_q neighbours exactly, so a chunk keeps its top
max(max(ks), max R_q) per row. Queries are processed in order of R_q, so a chunk holds queries of
similar R_q; the top-k work is O(N_q * N_g) comparisons plus O(sum_q K_chunk log K_chunk), and
memory per chunk is bounded by the budget (see :func:`proxylab.metrics.neighbours.chunk_rows`).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from .inputs import as_embeddings, as_ks, as_labels, check_int
from .neighbours import iter_chunk_topk, normalize_query_and_gallery, resolve_gallery


def retrieval_metrics(
    embeddings: Any,
    labels: Any,
    ks: Any = (1, 2, 4, 8),
    *,
    gallery: Any = None,
    gallery_labels: Any = None,
    query_indices: Any = None,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Retrieval metrics of the queries ``embeddings`` against the gallery (by default, themselves).

    Parameters
    ----------
    embeddings : array or Tensor, shape (N_q, d)
        Query embeddings (need not be normalised; cosine similarity is used). Computation runs
        on their device (CPU for numpy) in their precision (float32 or float64).
    labels : array or Tensor of int, shape (N_q,)
        Query labels.
    ks : int or sequence of int, default=(1, 2, 4, 8)
        Cut-offs for R@k, P@k and nDCG@k; each must be <= the number of candidates per query, else
        a ValueError (an explicit k that cannot be scored is an error here; evaluation code splits
        such k off with :func:`proxylab.metrics.feasible_ks` and reports them as missing).
    gallery : array or Tensor, shape (N_g, d), optional
        Separate gallery; None uses the queries themselves, each query excluding itself.
    gallery_labels : array or Tensor of int, shape (N_g,), optional
        Gallery labels; required with ``gallery``.
    query_indices : array of int, shape (N_q,), optional
        With a gallery: the gallery row of each query (-1: not in it); those rows are excluded
        from the query's candidates and from its R_q. None: queries and gallery are disjoint.
    chunk_size : int, optional
        Queries per chunk; None derives it from :data:`proxylab.metrics.neighbours.MEMORY_BUDGET_BYTES`.

    Returns
    -------
    dict[str, float]
        ``R@k``, ``P@k``, ``nDCG@k`` for each k, ``RP``, ``MAP@R`` (NaN when no query has
        R_q >= 1), ``num_queries`` (queries averaged over) and ``num_excluded`` (queries with
        R_q = 0), both ints.
    """
    per_query = per_query_metrics(embeddings, labels, ks, gallery=gallery, gallery_labels=gallery_labels,
                                  query_indices=query_indices, chunk_size=chunk_size, as_numpy=False)
    scored = per_query.scored.nonzero().squeeze(1)
    if len(scored) == 0:
        result: dict[str, Any] = {name: float("nan") for name in per_query.names}
    else:
        result = dict(zip(per_query.names, per_query.values[scored].mean(0).tolist()))
    result["num_queries"] = len(scored)
    result["num_excluded"] = len(per_query.scored) - len(scored)
    return result


class PerQuery(NamedTuple):
    """Each query's value of every retrieval metric (what :func:`retrieval_metrics` averages).

    Attributes
    ----------
    names : list of str
        ``R@k``, ``P@k``, ``nDCG@k`` for each k, then ``RP`` and ``MAP@R``: the columns of ``values``.
    values : ndarray or Tensor of float64, shape (N_q, M)
        Row q holds query q's values; 0 for a query that is not scored.
    scored : ndarray or Tensor of bool, shape (N_q,)
        Whether query q has a relevant candidate (R_q >= 1); the others are left out of every mean.
    """

    names: list[str]
    values: Any
    scored: Any

    def column(self, name: str) -> Any:
        """Values of metric ``name`` per query, shape (N_q,)."""
        return self.values[:, self.names.index(name)]


def per_query_metrics(
    embeddings: Any,
    labels: Any,
    ks: Any = (1, 2, 4, 8),
    *,
    gallery: Any = None,
    gallery_labels: Any = None,
    query_indices: Any = None,
    chunk_size: int | None = None,
    as_numpy: bool = True,
) -> PerQuery:
    """Every query's retrieval metrics, before the mean :func:`retrieval_metrics` takes (same parameters).

    The mean of a subset of rows (over its scored queries) is exactly what :func:`retrieval_metrics` gives for
    those queries alone against the same gallery: a query's values depend only on its own ranking. The dashboard
    keeps a snapshot's per-query values to score any selection of queries at once.

    Returns
    -------
    PerQuery
        numpy arrays (``as_numpy``, default) or tensors on the computation's device.
    """
    ks = as_ks(ks)
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", 1)
    query = as_embeddings(embeddings, "embeddings")
    query_labels = as_labels(labels, "labels", query.shape[0], query.device)
    if (gallery is None) != (gallery_labels is None):
        raise ValueError("gallery and gallery_labels must be given together, got only one of them")
    gallery, self_columns = resolve_gallery(query, gallery, query_indices,
                                            exclude_self=gallery is None or query_indices is not None)
    query = query.to(gallery.dtype)
    if gallery_labels is None:
        gallery_labels = query_labels
    else:
        gallery_labels = as_labels(gallery_labels, "gallery_labels", gallery.shape[0], query.device)

    has_self = self_columns >= 0  # (N_q,)
    if bool((gallery_labels[self_columns[has_self]] != query_labels[has_self]).any()):
        raise ValueError("gallery_labels must equal labels at query_indices (a query's own gallery row), "
                         "got a mismatch")
    n_candidates = gallery.shape[0] - int(bool(has_self.any()))
    if ks[-1] > n_candidates:
        raise ValueError(f"ks must be <= {n_candidates} (candidates per query), got {ks[-1]}")
    num_relevant = _count_relevant(query_labels, gallery_labels) - has_self.long()  # (N_q,) R_q
    is_scored = num_relevant > 0  # (N_q,) a query with no relevant candidate is left out of every mean
    scored = is_scored.nonzero().squeeze(1)
    order = scored[num_relevant[scored].argsort(stable=True)]  # similar R_q share a chunk
    k_per_row = num_relevant.clamp(min=ks[-1])  # (N_q,) neighbours each query needs

    per_query = _PerQueryMetrics(ks, query.shape[0], query.device)
    query_hat, gallery_hat = normalize_query_and_gallery(query, gallery)
    for rows, _, neighbours in iter_chunk_topk(query_hat, gallery_hat, order, self_columns, k_per_row, chunk_size):
        relevant = gallery_labels[neighbours] == query_labels[rows].unsqueeze(1)  # (b, K)
        per_query.add(rows, relevant, num_relevant[rows])
    if as_numpy:
        return PerQuery(per_query.names, per_query.values.cpu().numpy(), is_scored.cpu().numpy())
    return PerQuery(per_query.names, per_query.values, is_scored)


def _count_relevant(query_labels: Tensor, gallery_labels: Tensor) -> Tensor:
    """Number of gallery items sharing each query's label, shape (N_q,)."""
    values, counts = gallery_labels.unique(return_counts=True)  # sorted values
    position = torch.searchsorted(values, query_labels).clamp(max=len(values) - 1)
    return torch.where(values[position] == query_labels, counts[position], 0)


def metric_names(ks: tuple[int, ...]) -> list[str]:
    """The per-query columns for cut-offs `ks`: R@k, P@k, nDCG@k for each k, then RP and MAP@R."""
    return [f"{m}@{k}" for m in ("R", "P", "nDCG") for k in ks] + ["RP", "MAP@R"]


class _PerQueryMetrics:
    """Per-query values of every metric, float64 (N_q, M); filled chunk by chunk, so the means
    do not depend on the chunking."""

    def __init__(self, ks: tuple[int, ...], n_queries: int, device: torch.device):
        self.ks = ks
        self.names = metric_names(ks)
        self.values = torch.zeros(n_queries, len(self.names), dtype=torch.float64, device=device)
        ranks = torch.arange(1, max(ks) + 1, device=device, dtype=torch.float64)
        self.discounts = 1.0 / torch.log2(ranks + 1.0)  # (k_max,) 1/log2(i+1), i = 1..k_max
        self.ideal_dcg = self.discounts.cumsum(0)  # (k_max,) IDCG for min(k, R_q) = 1..k_max

    def add(self, rows: Tensor, relevant: Tensor, num_relevant: Tensor) -> None:
        """Store queries ``rows`` (b,): ``relevant`` (b, K) bool in rank order, ``num_relevant`` (b,) R_q >= 1."""
        rel = relevant.double()  # (b, K)
        hits, precisions, ndcgs = [], [], []
        for k in self.ks:
            rel_k = rel[:, :k]  # (b, k)
            hits.append(rel_k.amax(1))
            precisions.append(rel_k.sum(1) / k)
            ideal = self.ideal_dcg[num_relevant.clamp(max=k) - 1]  # (b,)
            ndcgs.append((rel_k * self.discounts[:k]).sum(1) / ideal)
        r = num_relevant.double()  # (b,)
        ranks = torch.arange(1, rel.shape[1] + 1, device=rel.device, dtype=torch.float64)  # (K,)
        rel_r = rel * (ranks <= r.unsqueeze(1))  # (b, K): only the first R_q ranks count
        r_precision = rel_r.sum(1) / r
        precision_at_i = rel_r.cumsum(1) / ranks  # (b, K) P(i)
        average_precision = (precision_at_i * rel_r).sum(1) / r
        self.values[rows] = torch.stack(hits + precisions + ndcgs + [r_precision, average_precision], dim=1)
