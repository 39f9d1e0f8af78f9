"""proxylab.metrics against a brute-force reference written straight from SCIENCE.md section 2.

The reference builds the full N x N cosine matrix in numpy (float64), ranks every query's
candidates with a Python sort on (-similarity, index), and evaluates each metric's definition
in a loop. It is compared with every key :func:`proxylab.metrics.evaluate` produces, on random
data and on tie-heavy data.

Tie-heavy data must have *exact* ties in both implementations, otherwise the rounding of
normalisation and of the matrix product, not the tie rule, decides the order. So it is drawn
from 24 unit vectors of R^4 with dyadic coordinates ({+-e_i} and (+-1/2, +-1/2, +-1/2, +-1/2)),
scaled by powers of two: their norms, normalisations and dot products are exact in any order of
summation, and many (query, candidate) pairs share a similarity, across labels.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans

from proxylab.metrics import evaluate, feasible_ks, knn, missing_ks_note, mode_coverage, nmi, retrieval_metrics

KS = (1, 2, 4, 8)
DYADIC_UNIT_VECTORS = np.array(
    [s * e for e in np.eye(4) for s in (1.0, -1.0)]
    + [list(signs) for signs in itertools.product((0.5, -0.5), repeat=4)]
)  # (24, 4), every row of norm exactly 1


# -- the reference ---------------------------------------------------------------------------
def unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def tie_duplicates(sims: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Give every gallery column the similarities of the first gallery row with the same unit row, so
    duplicates tie exactly (the float64 product alone may round them apart)."""
    _, first, group = np.unique(unit_rows(gallery), axis=0, return_index=True, return_inverse=True)
    return sims[:, first[group.ravel()]]


def reference_retrieval(x, y, ks=KS, gallery=None, gallery_labels=None, query_indices=None) -> dict:
    """Loop-per-query metrics; ``query_indices`` (with a gallery) marks each query's own row."""
    x = np.asarray(x, dtype=np.float64)
    if gallery is None:
        gallery, gallery_labels, own_row = x, y, np.arange(len(x))
    else:
        gallery = np.asarray(gallery, dtype=np.float64)
        own_row = np.full(len(x), -1) if query_indices is None else np.asarray(query_indices)
    sims = tie_duplicates(unit_rows(x) @ unit_rows(gallery).T, gallery)  # (N_q, N_g), the full matrix on purpose
    per_query: dict[str, list[float]] = {}
    excluded = 0
    for q in range(len(x)):
        candidates = [j for j in range(len(gallery)) if j != own_row[q]]
        ranked = sorted(candidates, key=lambda j: (-sims[q, j], j))
        rel = [int(gallery_labels[j] == y[q]) for j in ranked]
        r = sum(rel)
        if r == 0:
            excluded += 1
            continue
        values = {}
        for k in ks:
            values[f"R@{k}"] = float(any(rel[:k]))
            values[f"P@{k}"] = sum(rel[:k]) / k
            dcg = sum(rel[i] / math.log2(i + 2) for i in range(k))
            idcg = sum(1 / math.log2(i + 2) for i in range(min(k, r)))
            values[f"nDCG@{k}"] = dcg / idcg
        values["RP"] = sum(rel[:r]) / r
        values["MAP@R"] = sum(sum(rel[: i + 1]) / (i + 1) for i in range(r) if rel[i]) / r
        for name, value in values.items():
            per_query.setdefault(name, []).append(value)
    names = [f"{m}@{k}" for m in ("R", "P", "nDCG") for k in ks] + ["RP", "MAP@R"]
    result = {name: float(np.mean(per_query[name])) if per_query else float("nan") for name in names}
    result["num_queries"] = len(x) - excluded
    result["num_excluded"] = excluded
    return result


def reference_nmi(x, y, seed=0) -> float:
    """Entropy-formula NMI (arithmetic mean normaliser) of k-means on unit rows vs the labels."""
    y = np.asarray(y)
    clusters = KMeans(n_clusters=len(np.unique(y)), n_init=1, random_state=seed).fit_predict(unit_rows(x))
    joint = np.array([[np.sum((y == a) & (clusters == b)) for b in np.unique(clusters)] for a in np.unique(y)])
    p = joint / joint.sum()
    py, pc = p.sum(1), p.sum(0)
    h_y, h_c = -np.sum(py * np.log(py)), -np.sum(pc * np.log(pc))
    nz = p > 0
    mutual = np.sum(p[nz] * np.log(p[nz] / np.outer(py, pc)[nz]))
    return 1.0 if h_y == h_c == 0 else float(mutual / ((h_y + h_c) / 2))


def reference_mode_coverage(x, y, modes, proxies) -> dict:
    """Per-mode loop: centre direction, best own-class cosine, class of the first nearest proxy."""
    x_hat, w = unit_rows(np.asarray(x, dtype=np.float64)), np.asarray(proxies, dtype=np.float64)
    n_classes, per_class, _ = w.shape
    best, covered = [], []
    for m in sorted(set(modes.tolist()) - {-1}):
        members = modes == m
        centre = unit_rows(x_hat[members].mean(0, keepdims=True))[0]
        cos = {(c, k): float(centre @ unit_rows(w[c, k][None])[0]) for c in range(n_classes) for k in range(per_class)}
        own_class = int(y[members][0])
        best.append(max(cos[own_class, k] for k in range(per_class)))
        top = max(cos.values())
        nearest = min(ck for ck, v in cos.items() if v == top)  # first (c, k) in flat order
        covered.append(nearest[0] == own_class)
    return {"mode_coverage": float(np.mean(covered)), "mode_best_cos": float(np.mean(best))}


def reference_evaluate(x, y, modes=None, proxies=None, ks=KS, seed=0) -> dict:
    result = reference_retrieval(x, y, ks)
    result["NMI"] = reference_nmi(x, y, seed)
    if modes is not None and proxies is not None and (modes >= 0).any():
        result.update(reference_mode_coverage(x, y, modes, proxies))
    return result


# -- data ------------------------------------------------------------------------------------
def random_data(seed, n=150, d=6, n_classes=7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(n_classes, d))[y]  # class structure, not separable
    return x, y


def tie_heavy_data(seed, n=150, n_classes=4):
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(DYADIC_UNIT_VECTORS), n)
    scales = 2.0 ** rng.integers(-3, 4, n)[:, None]  # exact: keeps norms and cosines exact
    return DYADIC_UNIT_VECTORS[picks] * scales, rng.integers(0, n_classes, n)


def multimode_data(seed, n_classes=3, modes_per_class=2, per_mode=12, d=5):
    """Classes of several Gaussian modes, some samples with unknown mode (-1), proxies (C, 2, d)."""
    rng = np.random.default_rng(seed)
    n_modes = n_classes * modes_per_class
    centres = rng.normal(size=(n_modes, d))
    modes = np.repeat(np.arange(n_modes), per_mode)
    x = centres[modes] + 0.3 * rng.normal(size=(len(modes), d))
    y = modes // modes_per_class
    modes = np.where(rng.random(len(modes)) < 0.1, -1, modes)
    proxies = rng.normal(size=(n_classes, 2, d))
    return x, y, modes, proxies


def assert_same_metrics(result: dict, expected: dict, tol: float = 1e-10) -> None:
    assert result.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(result[name]), name
        else:
            assert result[name] == pytest.approx(value, abs=tol), name


# -- retrieval vs reference --------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("make", [random_data, tie_heavy_data], ids=["random", "tie_heavy"])
def test_retrieval_matches_reference(make, seed):
    x, y = make(seed)
    assert_same_metrics(retrieval_metrics(x, y, KS), reference_retrieval(x, y, KS))


def test_tie_heavy_data_is_tie_heavy_and_exact():
    """Guard for the test data: exact ties across labels, and float32 gives the same result."""
    x, y = tie_heavy_data(0)
    sims = unit_rows(x) @ unit_rows(x).T
    row = sims[0, 1:]
    assert len(np.unique(row)) <= 9 < len(row) // 10  # few distinct similarities per row
    assert_same_metrics(retrieval_metrics(x.astype(np.float32), y, KS), reference_retrieval(x, y, KS))


def duplicate_heavy_data(seed, dtype, n=150, d=64, n_bases=30, near=1e-2):
    """Few distinct directions repeated bitwise, some times an exact power of two, plus near-duplicates
    (a base + ``near`` x noise, far above the rounding of ``dtype``) and two zero rows; 6 labels, so
    duplicates carry different labels and only the tie rule decides which one ranks first."""
    rng = np.random.default_rng(seed)
    bases = rng.normal(size=(n_bases, d)).astype(dtype)
    x = bases[rng.integers(0, n_bases, n)] * (2.0 ** rng.integers(-2, 3, (n, 1))).astype(dtype)
    is_near = rng.random(n) < 0.2
    x[is_near] += (near * rng.normal(size=(int(is_near.sum()), d))).astype(dtype)
    x[:2] = 0.0
    return x, rng.integers(0, 6, n)


def smallest_gap_between_distinct_similarities(x) -> float:
    """Over all queries, the closest two *different* reference similarities of their candidates."""
    x64 = np.asarray(x, dtype=np.float64)
    sims = tie_duplicates(unit_rows(x64) @ unit_rows(x64).T, x64)
    return min(np.diff(np.unique(np.delete(sims[q], q))).min(initial=np.inf) for q in range(len(x)))


@pytest.mark.parametrize(("dtype", "near", "min_gap"), [(np.float32, 1e-2, 4e-7), (np.float64, 1e-3, 1e-12)])
def test_bitwise_duplicates_tie_exactly_at_every_chunk_size(dtype, near, min_gap):
    """One-row chunks take BLAS's matrix-vector path, which rounded duplicate columns apart (float32 here:
    R@1, MAP@R off by up to 0.02 at chunk_size=1 before the fix)."""
    x, y = duplicate_heavy_data(2, dtype, near=near)
    assert len(np.unique(unit_rows(x), axis=0)) < len(x) // 2  # duplicate-heavy directions
    # every non-duplicate pair is decided far above the rounding of dtype, so only duplicates can tie
    assert smallest_gap_between_distinct_similarities(x) > min_gap
    ks = (1, 2, 4, 8, 20)
    expected = reference_retrieval(x, y, ks)
    by_chunk = {c: retrieval_metrics(x, y, ks, chunk_size=c) for c in (1, 7, len(x), None)}
    for chunk_size, result in by_chunk.items():
        assert result == by_chunk[None], chunk_size  # bit-identical, not merely close
        assert_same_metrics(result, expected, tol=1e-12)
    neighbours = [knn(x, None, 30, chunk_size=c)[0] for c in (1, 7, None)]
    assert all(np.array_equal(n, neighbours[0]) for n in neighbours)


def test_feasible_ks_splits_off_the_cut_offs_a_small_set_cannot_score():
    assert feasible_ks((8, 1, 4, 2, 4), 5) == ((1, 2, 4), (8,))
    assert feasible_ks(3, 2) == ((), (3,))
    assert feasible_ks((1, 2), 1) == ((), (1, 2))
    x, y = random_data(0, n=5)
    with pytest.raises(ValueError, match=r"ks must be <= 4 \(candidates per query\), got 8"):
        evaluate(x, y)  # an explicit infeasible k stays an error in the public API
    with pytest.raises(ValueError, match="ks must be an int >= 1"):
        feasible_ks((0, 1), 5)
    assert "R@8" in missing_ks_note("test", 5, (8,)) and "\n" not in missing_ks_note("test", 5, (8,))
    assert "not evaluated" in missing_ks_note("train", 1, (1, 2))


def test_tie_order_decides_the_metrics():
    """Two candidates at equal similarity: the lower index ranks first, whatever its label."""
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    # query 3 sees rows 0, 1, 2 all at cosine 1/sqrt(2); row 0 (label 1) ranks first.
    y = np.array([1, 0, 1, 0])
    result = retrieval_metrics(x, y, ks=(1, 2))
    expected = reference_retrieval(x, y, ks=(1, 2))
    assert_same_metrics(result, expected)
    y_swapped = np.array([0, 1, 1, 0])  # now row 0 shares query 3's label
    assert retrieval_metrics(x, y_swapped, ks=(1,))["R@1"] != result["R@1"]


@pytest.mark.parametrize("make", [random_data, tie_heavy_data], ids=["random", "tie_heavy"])
def test_separate_gallery_matches_reference(make):
    x, y = make(3, n=90)
    gx, gy = make(4, n=120)
    expected = reference_retrieval(x, y, KS, gallery=gx, gallery_labels=gy)
    assert_same_metrics(retrieval_metrics(x, y, KS, gallery=gx, gallery_labels=gy), expected)


@pytest.mark.parametrize("make", [random_data, tie_heavy_data], ids=["random", "tie_heavy"])
def test_queries_inside_gallery_exclude_their_own_row(make):
    gx, gy = make(5, n=120)
    rows = np.random.default_rng(0).choice(len(gx), 40, replace=False)
    query_indices = rows.copy()
    query_indices[:5] = -1  # five queries are treated as outside the gallery
    expected = reference_retrieval(gx[rows], gy[rows], KS, gallery=gx, gallery_labels=gy, query_indices=query_indices)
    result = retrieval_metrics(gx[rows], gy[rows], KS, gallery=gx, gallery_labels=gy, query_indices=query_indices)
    assert_same_metrics(result, expected)


def test_queries_without_relevant_items_are_excluded_and_counted():
    x, y = random_data(6, n=60)
    y = y.copy()
    y[:3] = [100, 101, 102]  # three singleton labels: R_q = 0
    result = retrieval_metrics(x, y, KS)
    assert (result["num_queries"], result["num_excluded"]) == (57, 3)
    assert_same_metrics(result, reference_retrieval(x, y, KS))


def test_no_scorable_query_gives_nan_metrics():
    x = np.random.default_rng(0).normal(size=(5, 3))
    result = retrieval_metrics(x, np.arange(5), ks=(1,))
    assert (result["num_queries"], result["num_excluded"]) == (0, 5)
    assert all(math.isnan(result[name]) for name in ("R@1", "P@1", "nDCG@1", "RP", "MAP@R"))


def test_ndcg_at_1_equals_recall_at_1():
    for make in (random_data, tie_heavy_data):
        result = retrieval_metrics(*make(7), ks=(1, 3))
        assert result["nDCG@1"] == result["R@1"] == result["P@1"]


def test_large_classes_need_top_r_beyond_max_k():
    """R_q (~60) far above max(ks): MAP@R and RP must still see the full top-R_q list."""
    x, y = random_data(8, n=180, n_classes=3)
    assert_same_metrics(retrieval_metrics(x, y, ks=(1,)), reference_retrieval(x, y, ks=(1,)))


# -- NMI and mode coverage vs reference --------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_nmi_matches_entropy_formula(seed):
    x, y = random_data(seed, n=200)
    assert nmi(x, y, seed=seed) == pytest.approx(reference_nmi(x, y, seed), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_mode_coverage_matches_reference(seed):
    x, y, modes, proxies = multimode_data(seed)
    result = mode_coverage(x, y, modes, proxies)
    expected = reference_mode_coverage(x, y, modes, proxies)
    assert result["mode_coverage"] == pytest.approx(expected["mode_coverage"], abs=1e-12)
    assert result["mode_best_cos"] == pytest.approx(expected["mode_best_cos"], abs=1e-12)
    known = sorted(set(modes.tolist()) - {-1})
    np.testing.assert_array_equal(result["mode_ids"], known)
    np.testing.assert_array_equal(result["mode_sizes"], [np.sum(modes == m) for m in known])
    np.testing.assert_array_equal(result["mode_labels"], [y[modes == m][0] for m in known])
    assert result["per_mode_best_cos"].mean() == pytest.approx(result["mode_best_cos"])
    assert result["covered"].mean() == pytest.approx(result["mode_coverage"])


def test_mode_coverage_single_vs_multi_proxy():
    """Proxies on each mode's centre cover every mode; one proxy per class, at one mode, cannot."""
    x, y, modes, _ = multimode_data(0, modes_per_class=2)
    centres = np.stack([unit_rows(x[modes == m]).mean(0) for m in range(6)])  # (6, d)
    multi = mode_coverage(x, y, modes, centres.reshape(3, 2, -1))
    assert multi["mode_coverage"] == 1.0 and multi["mode_best_cos"] == pytest.approx(1.0)
    single = mode_coverage(x, y, modes, centres[::2, None, :])  # (3, 1, d): first mode of each class only
    assert single["mode_best_cos"] < 1.0
    assert single["covered"][::2].all()  # the modes that hold a proxy are covered


# -- evaluate: every key, against the reference --------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_matches_reference_on_every_key(seed):
    x, y, modes, proxies = multimode_data(seed)
    assert_same_metrics(evaluate(x, y, modes, proxies, seed=seed), reference_evaluate(x, y, modes, proxies, seed=seed))


def test_every_evaluate_key_is_covered_by_a_reference():
    """sklearn test_common style: a new key in evaluate() fails here until the reference knows it."""
    x, y, modes, proxies = multimode_data(2)
    produced = set(evaluate(x, y, modes, proxies, ks=(1, 5)).keys())
    referenced = set(reference_evaluate(x, y, modes, proxies, ks=(1, 5)).keys())
    assert produced - referenced == set(), f"metrics without a reference test: {produced - referenced}"
    assert referenced - produced == set()


def test_evaluate_with_max_queries_scores_a_fixed_subset_against_all_points():
    """A million imported points: a seeded subset of queries, each retrieving from every point (itself excluded),
    NMI on the same subset; max_queries >= N is the full evaluation."""
    x, y, modes, proxies = multimode_data(1)
    n = len(y)
    rows = np.sort(np.random.default_rng(3).choice(n, 40, replace=False))
    from proxylab.metrics import seeded_subset

    np.testing.assert_array_equal(seeded_subset(n, 40, 3), rows)
    expected = reference_retrieval(x[rows], y[rows], gallery=x, gallery_labels=y, query_indices=rows)
    expected["NMI"] = reference_nmi(x[rows], y[rows], 3)
    expected.update(reference_mode_coverage(x, y, modes, proxies))  # coverage always uses every point
    assert_same_metrics(evaluate(x, y, modes, proxies, seed=3, max_queries=40), expected)
    assert_same_metrics(evaluate(x, y, modes, proxies, seed=3, max_queries=n), evaluate(x, y, modes, proxies, seed=3))
    # not the same numbers as the full evaluation: the subset really is used
    assert evaluate(x, y, seed=3, max_queries=40)["MAP@R"] != evaluate(x, y, seed=3)["MAP@R"]
    for bad in (1, 0, 2.5, True, "10"):
        with pytest.raises(ValueError, match=f"max_queries must be an int >= 2 or None, got {bad!r}"):
            evaluate(x, y, max_queries=bad)


def test_evaluate_skips_mode_coverage_without_modes_or_proxies():
    x, y, modes, proxies = multimode_data(0)
    for kwargs in ({}, {"modes": modes}, {"proxies": proxies}, {"modes": np.full_like(modes, -1), "proxies": proxies}):
        result = evaluate(x, y, **kwargs)
        assert "mode_coverage" not in result and "NMI" in result


def test_evaluate_rejects_labels_outside_the_proxies_classes():
    x, y, modes, proxies = multimode_data(0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        evaluate(x, y, modes, proxies[:2])


def test_perfect_retrieval_scores_one_everywhere():
    """Classes on orthogonal axes, more samples per class than max(ks): every metric is 1."""
    n_classes, per_class = 4, 10
    y = np.repeat(np.arange(n_classes), per_class)
    x = np.eye(n_classes)[y] * np.random.default_rng(0).uniform(0.5, 2.0, (len(y), 1))
    modes = y.copy()
    proxies = np.eye(n_classes)[:, None, :]  # (C, 1, d) on the class axes
    result = evaluate(x, y, modes, proxies)
    assert {k: v for k, v in result.items() if not k.startswith("num_")} == pytest.approx(
        {k: 1.0 for k in result if not k.startswith("num_")})
    assert (result["num_queries"], result["num_excluded"]) == (40, 0)


# -- properties --------------------------------------------------------------------------------
METRIC_NAMES = [f"{m}@{k}" for m in ("R", "P", "nDCG") for k in (1, 2)] + ["RP", "MAP@R"]


@settings(max_examples=40, deadline=None)
@given(
    data=st.integers(2, 25).flatmap(lambda n: st.tuples(
        st.lists(st.lists(st.floats(-100, 100), min_size=3, max_size=3), min_size=n, max_size=n),
        st.lists(st.integers(0, 3), min_size=n, max_size=n))),
)
def test_metrics_lie_in_unit_interval(data):
    """Arbitrary embeddings (zeros, duplicates, ties) and labels: every metric in [0, 1] or NaN."""
    x, y = np.array(data[0]), np.array(data[1])
    result = retrieval_metrics(x, y, ks=(1, min(2, len(y) - 1)))
    assert result["num_queries"] + result["num_excluded"] == len(y)
    for name in METRIC_NAMES[:1] + ["RP", "MAP@R", "nDCG@1"]:
        value = result[name]
        assert (math.isnan(value) and result["num_queries"] == 0) or 0.0 <= value <= 1.0


@settings(max_examples=25, deadline=None)
@given(
    picks=st.lists(st.tuples(st.integers(0, 23), st.integers(-2, 2), st.integers(0, 2)), min_size=3, max_size=30),
)
def test_tie_heavy_hypothesis_matches_reference(picks):
    """Exact-tie data drawn by hypothesis (dyadic vectors x powers of two) agree with the reference."""
    x = np.array([DYADIC_UNIT_VECTORS[i] * 2.0**e for i, e, _ in picks])
    y = np.array([label for _, _, label in picks])
    ks = (1, min(3, len(y) - 1))
    assert_same_metrics(retrieval_metrics(x, y, ks), reference_retrieval(x, y, ks))


# d >= 2: in one dimension every cosine is +-1, all ties
tie_free_data = st.tuples(st.integers(0, 2**32 - 1), st.integers(4, 60), st.integers(2, 8), st.integers(1, 5))


@settings(max_examples=30, deadline=None)
@given(params=tie_free_data, permutation_seed=st.integers(0, 2**32 - 1))
def test_invariant_to_a_permutation_of_the_dataset(params, permutation_seed):
    """On tie-free data the order of the rows must not matter (with ties, the index rule does)."""
    seed, n, d, n_classes = params
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.integers(0, n_classes, n)
    perm = np.random.default_rng(permutation_seed).permutation(n)
    ks = (1, min(4, n - 1))
    assert_same_metrics(retrieval_metrics(x[perm], y[perm], ks), retrieval_metrics(x, y, ks), tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(params=tie_free_data, scale=st.floats(1e-3, 1e3), per_row=st.booleans())
def test_invariant_to_positive_scaling(params, scale, per_row):
    """Cosine similarity ignores the norm: a global or per-row positive scale changes nothing."""
    seed, n, d, n_classes = params
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.integers(0, n_classes, n)
    factors = scale * (rng.uniform(0.1, 10.0, (n, 1)) if per_row else 1.0)
    ks = (1, min(4, n - 1))
    assert_same_metrics(retrieval_metrics(x * factors, y, ks), retrieval_metrics(x, y, ks), tol=1e-12)


def test_torch_and_numpy_inputs_agree():
    x, y = random_data(9)
    from_numpy = retrieval_metrics(x, y)
    from_torch = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y))
    assert from_numpy == from_torch
