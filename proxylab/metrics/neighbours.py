"""Exact, chunked cosine k-nearest-neighbour search with a stable tie-break.

Neighbours are ranked by (cosine similarity descending, gallery index ascending). The search
never forms the N_q x N_g similarity matrix: queries are processed in chunks whose size is
derived from a memory budget, each chunk computing its (b, N_g) block and keeping its top k.

``torch.topk`` returns tied values in an unspecified order, so :func:`topk_stable` makes the
order exact in two steps:

1. ``topk`` of k+1 values. If the (k+1)-th value is strictly below the k-th, no tie crosses the
   cut, so the top-k *set* is exactly {j : s_j >= s_(k)} whatever topk did among equal values;
   only its order among equal values may be wrong. Rows whose top k holds two equal values are
   re-sorted on the unique int64 key (rank of the distinct value) * N_g + column, which is
   exactly (value desc, column asc); rows without equal values are already in that order.
2. Rows where a tie crosses the cut are redone exactly: all columns with s_j > s_(k) are taken,
   plus the lowest-index columns with s_j == s_(k) until k are taken, then step 1's re-sort
   orders them. This costs a few extra passes over those rows only (tie-heavy data, e.g. duplicated or
   quantised embeddings, pays it on most rows).

The tie rule only helps if equal similarities are computed as equal floats. A matrix product does
not promise that: BLAS kernels sum a dot product in an order that depends on where the entry sits
in the block (a one-row chunk takes a matrix-vector path, edge tiles another), so two bitwise
identical gallery rows can get cosines one rounding apart, and which of them ranks first would then
depend on ``chunk_size``. :func:`iter_chunk_topk` therefore computes each chunk against the
*distinct* unit-norm gallery rows only and copies that column to every duplicate: duplicates share
one computed float, so they tie exactly whatever the chunking, the device or the BLAS. Rows are
compared after normalisation, so x and 2x (exact in floating point) count as duplicates too. Two
*different* rows whose exact cosines to a query are equal tie only where the arithmetic is exact
(e.g. dyadic coordinates); otherwise their computed values, one rounding apart, decide.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .inputs import as_embeddings, as_labels, check_int

#: Bytes one chunk of queries may use for its similarity block and top-k work (see chunk_rows).
MEMORY_BUDGET_BYTES = 256 * 2**20


def chunk_rows(n_gallery: int, k: int, itemsize: int, chunk_size: int | None = None, n_distinct: int = 0) -> int:
    """Number of query rows per chunk.

    Parameters
    ----------
    n_gallery : int
        N_g, gallery size (columns of the similarity block).
    k : int
        Largest number of neighbours kept per query in the chunk.
    itemsize : int
        Bytes per similarity value (4 for float32, 8 for float64).
    chunk_size : int or None, default=None
        Explicit number of rows; None derives it from :data:`MEMORY_BUDGET_BYTES`.
    n_distinct : int, default=0
        Columns of the block against the distinct gallery rows, held next to the (b, N_g) block
        while it is expanded; 0 when the gallery has no duplicates (no such block).

    Returns
    -------
    int
        Rows per chunk, >= 1. Per row the estimate is N_g * (itemsize + 11) bytes (similarities,
        plus the tie-fix masks and int64 running count when a tie crosses the cut),
        n_distinct * itemsize bytes and k * (itemsize + 96) bytes (top-k values and int64
        indices, the int64 re-sort key and permutation, the labels of the neighbours and the
        float64 per-rank metric terms).
    """
    if chunk_size is not None:
        return check_int(chunk_size, "chunk_size", 1)
    per_row = n_gallery * (itemsize + 11) + n_distinct * itemsize + k * (itemsize + 96)
    return max(1, MEMORY_BUDGET_BYTES // per_row)


def distinct_rows(x: Tensor) -> tuple[Tensor, Tensor | None]:
    """The distinct rows of ``x`` (U, d) and the row of each original among them, (N,) int64.

    The second value is None when all N rows are distinct (then the first is ``x`` itself), so
    duplicate-free data pays one row sort and nothing per chunk.
    """
    distinct, row_of = torch.unique(x, dim=0, return_inverse=True)
    if len(distinct) == len(x):
        return x, None
    return distinct, row_of


def normalize_rows(x: Tensor) -> Tensor:
    """Unit-norm rows, shape (N, d); an all-zero row stays zero (cosine 0 to everything)."""
    return F.normalize(x, dim=1)


def normalize_query_and_gallery(query: Tensor, gallery: Tensor) -> tuple[Tensor, Tensor]:
    """Unit-norm query (N_q, d) and gallery (N_g, d) rows; a self-search normalises once and shares the
    result (one (N, d) copy, not two: 230 MB at N = 450,000, d = 128, float32)."""
    query_hat = normalize_rows(query)
    return query_hat, query_hat if gallery is query else normalize_rows(gallery)


def topk_stable(sims: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Top-k of every row of ``sims`` (b, n), ordered by (value desc, column asc).

    Parameters
    ----------
    sims : Tensor, shape (b, n)
        Similarities; excluded columns hold ``-inf``. NaN is not allowed.
    k : int
        1 <= k <= n.

    Returns
    -------
    values : Tensor, shape (b, k)
    indices : Tensor, shape (b, k), int64 column indices
    """
    n = sims.shape[1]
    values, indices = sims.topk(min(k + 1, n), dim=1)  # (b, k+1), values descending
    if k < n:
        straddles = values[:, k] == values[:, k - 1]  # (b,): a tie crosses the cut
        values, indices = values[:, :k], indices[:, :k]
    else:
        straddles = torch.zeros(len(sims), dtype=torch.bool, device=sims.device)
    # rows with two equal values among their top k (adjacent, as values are sorted) or a redone set
    unordered = (values[:, 1:] == values[:, :-1]).any(dim=1) | straddles  # (b,)
    if bool(straddles.any()):
        rows = straddles.nonzero().squeeze(1)  # (b',)
        values[rows], indices[rows] = _topk_lowest_index_ties(sims[rows], values[rows, k - 1], k)
    if bool(unordered.any()):
        rows = unordered.nonzero().squeeze(1)  # (b'',)
        values[rows], indices[rows] = _order_ties_by_column(values[rows], indices[rows], n)
    return values, indices


def _order_ties_by_column(values: Tensor, indices: Tensor, n_columns: int) -> tuple[Tensor, Tensor]:
    """Re-order rows (b', k) whose values are descending so equal values come by column ascending.

    One sort on the int64 key (rank of the distinct value) * n_columns + column, which orders by
    (value desc, column asc) and is unique, so any sort algorithm gives the same result.
    """
    new_value = torch.ones_like(values, dtype=torch.bool)  # (b', k)
    new_value[:, 1:] = values[:, 1:] != values[:, :-1]
    value_rank = new_value.cumsum(1)  # (b', k) int64, 1 = largest value
    order = (value_rank * n_columns + indices).argsort(dim=1)
    return values.gather(1, order), indices.gather(1, order)


def _topk_lowest_index_ties(sims: Tensor, cut: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Exact top-k set of rows whose k-th value ``cut`` (b',) is tied beyond the cut, values descending."""
    cut = cut.unsqueeze(1)  # (b', 1)
    above = sims > cut  # (b', n): all of these belong to the top k
    tied = sims == cut  # (b', n)
    needed = k - above.sum(1, keepdim=True)  # (b', 1) tied columns to take, lowest index first
    take = above | (tied & (tied.cumsum(1) <= needed))  # exactly k True per row
    columns = take.nonzero()[:, 1].view(-1, k)  # (b', k)
    values, order = sims.gather(1, columns).sort(dim=1, descending=True)
    return values, columns.gather(1, order)


def iter_chunk_topk(
    query: Tensor,
    gallery: Tensor,
    query_rows: Tensor,
    self_columns: Tensor,
    k_per_row: Tensor,
    chunk_size: int | None,
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Yield ``(rows, values, indices)`` for successive chunks of ``query_rows``.

    Parameters
    ----------
    query : Tensor, shape (N_q, d)
        Unit-norm queries.
    gallery : Tensor, shape (N_g, d)
        Unit-norm gallery, same dtype and device.
    query_rows : Tensor, shape (M,)
        Which queries to search, in processing order.
    self_columns : Tensor, shape (N_q,)
        Gallery column excluded for each query, -1 for none.
    k_per_row : Tensor, shape (N_q,)
        Neighbours needed per query; a chunk keeps the top max(k_per_row[rows]) of each row, so
        ordering ``query_rows`` by k groups queries of similar k and bounds the wasted work.

    Yields
    ------
    rows : Tensor, shape (b,)
    values : Tensor, shape (b, K)
    indices : Tensor, shape (b, K), int64, K = max(k_per_row[rows])
    """
    n_gallery = gallery.shape[0]
    k_max = int(k_per_row[query_rows].max()) if len(query_rows) else 0
    distinct, column_of = distinct_rows(gallery)  # (U, d), (N_g,) or None
    n_distinct = 0 if column_of is None else len(distinct)
    step = chunk_rows(n_gallery, k_max, gallery.element_size(), chunk_size, n_distinct)
    for start in range(0, len(query_rows), step):
        rows = query_rows[start : start + step]  # (b,)
        sims = query[rows] @ distinct.T  # (b, U)
        if column_of is not None:
            sims = sims[:, column_of]  # (b, N_g): duplicates share one computed value, an exact tie
        excluded = self_columns[rows]  # (b,)
        has_self = (excluded >= 0).nonzero().squeeze(1)
        sims[has_self, excluded[has_self]] = float("-inf")
        values, indices = topk_stable(sims, int(k_per_row[rows].max()))
        yield rows, values, indices


def resolve_gallery(
    query: Tensor, gallery: Any, query_indices: Any, exclude_self: bool
) -> tuple[Tensor, Tensor]:
    """Return the gallery tensor and the excluded gallery column of each query (-1: none).

    ``gallery=None`` searches the queries among themselves (query i is gallery row i). With a
    separate gallery, ``query_indices`` (N_q,) names the gallery row of each query (-1: not in
    the gallery); without it, query i is taken to be gallery row i. Nothing is excluded unless
    ``exclude_self``.
    """
    n_query = query.shape[0]
    if gallery is None:
        if query_indices is not None:
            raise ValueError("query_indices must be None when gallery is None, got an array")
        gallery = query
        columns = torch.arange(n_query, device=query.device)
    else:
        gallery = as_embeddings(gallery, "gallery", query.device)
        if gallery.shape[1] != query.shape[1]:
            raise ValueError(f"gallery must have {query.shape[1]} columns like the queries, got {gallery.shape[1]}")
        gallery = gallery.to(torch.promote_types(query.dtype, gallery.dtype))
        n_gallery = gallery.shape[0]
        if query_indices is not None:
            columns = as_labels(query_indices, "query_indices", n_query, query.device)
            if bool(((columns < -1) | (columns >= n_gallery)).any()):
                raise ValueError(f"query_indices must lie in [-1, {n_gallery - 1}], got range "
                                 f"[{int(columns.min())}, {int(columns.max())}]")
        elif exclude_self and n_query > n_gallery:
            raise ValueError(f"exclude_self without query_indices takes query i to be gallery row i, so "
                             f"at most {n_gallery} queries, got {n_query}")
        else:
            columns = torch.arange(n_query, device=query.device)
    return gallery, columns if exclude_self else torch.full_like(columns, -1)


def knn(
    query: Any,
    gallery: Any,
    k: int,
    exclude_self: bool = True,
    chunk_size: int | None = None,
    *,
    query_indices: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine similarity, ties broken by lowest gallery index.

    Parameters
    ----------
    query : array or Tensor, shape (N_q, d)
        Query embeddings (need not be normalised). Computation runs on the query's device
        (CPU for numpy) in its precision (float32 or float64; other dtypes become float32).
    gallery : array or Tensor, shape (N_g, d), or None
        Gallery embeddings; None searches the queries among themselves.
    k : int
        Neighbours per query, 1 <= k <= number of candidates (N_g, minus 1 when a query's own
        row is excluded).
    exclude_self : bool, default=True
        Exclude each query's own gallery row: ``query_indices[i]`` if given, else row i (with a
        separate gallery this is pytorch-metric-learning's ``ref_includes_query`` convention:
        the first N_q gallery rows are the queries).
    chunk_size : int or None, default=None
        Queries per chunk; None derives it from :data:`MEMORY_BUDGET_BYTES`.
    query_indices : array of int, shape (N_q,), optional
        Gallery row of each query, -1 where the query is not in the gallery (e.g. the points a
        user selected, searched among the whole set); needs a gallery.

    Returns
    -------
    indices : ndarray, shape (N_q, k), int64
        Gallery rows ordered by (similarity desc, index asc).
    similarities : ndarray, shape (N_q, k)
        Their cosine similarities (dtype of the computation).

    Notes
    -----
    Memory is O(chunk * N_g), never O(N_q * N_g); time is one (N_q, d) x (d, N_g) product plus a
    top-k per row.
    """
    if not isinstance(exclude_self, bool):
        raise ValueError(f"exclude_self must be a bool, got {exclude_self!r}")
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", 1)
    query = as_embeddings(query, "query")
    gallery, self_columns = resolve_gallery(query, gallery, query_indices, exclude_self)
    query = query.to(gallery.dtype)
    n_candidates = gallery.shape[0] - int(bool((self_columns >= 0).any()))
    if n_candidates < 1:
        raise ValueError("gallery must hold at least one candidate besides the query itself, got 0")
    k = check_int(k, "k", 1, n_candidates)
    query_hat, gallery_hat = normalize_query_and_gallery(query, gallery)
    n_query = query.shape[0]
    indices = torch.empty((n_query, k), dtype=torch.int64)
    similarities = torch.empty((n_query, k), dtype=gallery.dtype)
    all_rows = torch.arange(n_query, device=query.device)
    k_per_row = torch.full((n_query,), k, device=query.device)
    for rows, values, columns in iter_chunk_topk(query_hat, gallery_hat, all_rows, self_columns, k_per_row, chunk_size):
        rows = rows.cpu()
        indices[rows], similarities[rows] = columns.cpu(), values.cpu()
    return indices.numpy(), similarities.numpy()
