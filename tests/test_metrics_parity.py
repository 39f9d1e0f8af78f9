"""proxylab.metrics against the libraries SCIENCE.md names as references.

- pytorch-metric-learning ``AccuracyCalculator``: precision_at_1, r_precision and
  mean_average_precision_at_r. Its conventions: with ``reference=None`` (or
  ``ref_includes_query=True``) it searches k+1 neighbours and removes the query's own index;
  ``k="max_bin_count"`` makes k the largest class size minus one, enough for every R_q; queries
  whose label has no other reference item ("lone" queries) are left out of every metric, as
  proxylab excludes R_q = 0. Without faiss, its k-NN is ``CustomKNN(CosineSimilarity())``, a
  ``torch.topk`` whose order among tied values is unspecified, so the data are tie-free.
- sklearn ``ndcg_score``: one row per query over its candidates (the query excluded), queries with
  R_q = 0 dropped. sklearn averages the gains of tied scores, so again tie-free data.
- sklearn ``normalized_mutual_info_score`` on the same k-means labels.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
from sklearn.metrics import ndcg_score, normalized_mutual_info_score

from proxylab.metrics import kmeans_labels, nmi, retrieval_metrics


def tie_free_data(seed, n=200, d=4, n_classes=8, singletons=3):
    """Low d spreads the cosines, so no two candidates of a row are within float32 rounding."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    y[:singletons] = np.arange(100, 100 + singletons)  # lone queries, excluded by both libraries
    x = rng.normal(size=(n, d)) + rng.normal(size=(n_classes + singletons, d))[np.unique(y, return_inverse=True)[1]]
    return x.astype(np.float32), y


def pml_accuracy(query, query_labels, reference=None, reference_labels=None, ref_includes_query=False):
    calculator = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        k="max_bin_count",
        device=torch.device("cpu"),
        knn_func=CustomKNN(CosineSimilarity()),
    )
    as_tensor = lambda a: None if a is None else torch.from_numpy(np.asarray(a))  # noqa: E731
    return calculator.get_accuracy(as_tensor(query), as_tensor(query_labels), as_tensor(reference),
                                   as_tensor(reference_labels), ref_includes_query)


def assert_matches_pml(ours, pml):
    assert ours["P@1"] == pytest.approx(pml["precision_at_1"], abs=1e-6)
    assert ours["R@1"] == pytest.approx(pml["precision_at_1"], abs=1e-6)  # hit rate at 1 is P@1
    assert ours["RP"] == pytest.approx(pml["r_precision"], abs=1e-6)
    assert ours["MAP@R"] == pytest.approx(pml["mean_average_precision_at_r"], abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pml_on_one_set(seed):
    x, y = tie_free_data(seed)
    ours = retrieval_metrics(x, y, ks=(1,))
    assert ours["num_excluded"] == 3
    assert_matches_pml(ours, pml_accuracy(x, y))


def test_matches_pml_with_a_disjoint_gallery():
    x, y = tie_free_data(3, singletons=0)
    queries, gallery = slice(0, 80), slice(80, None)
    ours = retrieval_metrics(x[queries], y[queries], ks=(1,), gallery=x[gallery], gallery_labels=y[gallery])
    assert_matches_pml(ours, pml_accuracy(x[queries], y[queries], x[gallery], y[gallery], ref_includes_query=False))


def test_matches_pml_with_queries_heading_the_gallery():
    """PML's ref_includes_query: the first N_q reference rows are the queries; proxylab's query_indices."""
    x, y = tie_free_data(4)
    n_query = 70
    ours = retrieval_metrics(x[:n_query], y[:n_query], ks=(1,), gallery=x, gallery_labels=y,
                             query_indices=np.arange(n_query))
    assert_matches_pml(ours, pml_accuracy(x[:n_query], y[:n_query], x, y, ref_includes_query=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_ndcg_matches_sklearn(seed):
    x, y = tie_free_data(seed, n=150)
    x = x.astype(np.float64)
    ks = (1, 2, 5, 10, 40)
    ours = retrieval_metrics(x, y, ks)
    x_hat = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x_hat @ x_hat.T
    off_diagonal = ~np.eye(len(y), dtype=bool)
    scores = sims[off_diagonal].reshape(len(y), -1)  # (N, N-1): candidates, the query removed
    relevance = (y[:, None] == y[None, :])[off_diagonal].reshape(len(y), -1).astype(float)
    scored = relevance.sum(1) > 0  # R_q >= 1
    for k in ks:
        expected = ndcg_score(relevance[scored], scores[scored], k=k)
        assert ours[f"nDCG@{k}"] == pytest.approx(expected, abs=1e-12), k


@pytest.mark.parametrize("seed", [0, 5])
def test_nmi_matches_sklearn_on_the_same_kmeans_labels(seed):
    x, y = tie_free_data(seed, singletons=0)
    clusters = kmeans_labels(x, len(np.unique(y)), seed=seed)
    expected = normalized_mutual_info_score(y, clusters, average_method="arithmetic")
    assert nmi(x, y, seed=seed) == pytest.approx(expected, abs=1e-12)
    assert 0.0 < expected < 1.0  # the data are neither random nor perfectly clustered


def test_nmi_is_one_for_separated_clusters_and_low_for_random_labels():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 30)
    x = np.eye(8)[y] + 0.01 * rng.normal(size=(150, 8))
    assert nmi(x, y) == pytest.approx(1.0)
    assert nmi(x, rng.permutation(y)) < 0.2
