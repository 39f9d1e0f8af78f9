"""Clustering quality: NMI between k-means clusters of the embeddings and the labels."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from .inputs import as_embeddings, as_labels, check_int
from .neighbours import normalize_rows

#: k-means restarts; one k-means++ run is sklearn's own default (n_init="auto").
KMEANS_N_INIT = 1


def kmeans_labels(embeddings: Any, n_clusters: int, seed: int = 0):
    """Cluster ids (N,) int of k-means on the L2-normalised embeddings (cosine geometry).

    sklearn ``KMeans(n_clusters, n_init=KMEANS_N_INIT, random_state=seed)`` on float64.
    """
    x = as_embeddings(embeddings, "embeddings")
    n_clusters = check_int(n_clusters, "n_clusters", 1, x.shape[0])
    seed = check_int(seed, "seed", 0)
    x_hat = normalize_rows(x.double()).cpu().numpy()  # (N, d)
    return KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=seed).fit_predict(x_hat)


def nmi(embeddings: Any, labels: Any, seed: int = 0) -> float:
    """Normalised mutual information between k-means clusters and the labels.

    Parameters
    ----------
    embeddings : array or Tensor, shape (N, d)
        Embeddings; clustered after L2 normalisation, as retrieval uses cosine similarity.
    labels : array or Tensor of int, shape (N,)
        Class labels; k = number of distinct labels.
    seed : int, default=0
        k-means seed (``random_state``), fixed so repeated evaluations are comparable.

    Returns
    -------
    float
        sklearn ``normalized_mutual_info_score(labels, clusters, average_method="arithmetic")``,
        in [0, 1].

    References
    ----------
    Schütze, Manning, Raghavan, "Introduction to Information Retrieval", 2008, section 16.3;
    the clustering metric of pytorch-metric-learning's ``AccuracyCalculator``.
    """
    x = as_embeddings(embeddings, "embeddings")
    y = as_labels(labels, "labels", x.shape[0], x.device).cpu().numpy()
    clusters = kmeans_labels(x, len(np.unique(y)), seed)
    return float(normalized_mutual_info_score(y, clusters, average_method="arithmetic"))
