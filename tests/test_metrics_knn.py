"""Chunked exact k-NN: order (similarity desc, index asc) against a full-matrix reference, chunking
invariance, input validation, CUDA parity, and (slow) memory and correctness at N = 450,000 x d = 128."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import proxylab.metrics.neighbours as neighbours_module
from proxylab.metrics import evaluate, knn, mode_coverage, nmi, retrieval_metrics
from proxylab.metrics.neighbours import chunk_rows, topk_stable

DYADIC = np.array([s * e for e in np.eye(4) for s in (1.0, -1.0)]
                  + [list(v) for v in itertools.product((0.5, -0.5), repeat=4)])  # (24, 4) exact unit rows


def reference_knn(query, gallery, k, own_rows):
    """Full matrix, then a lexicographic sort on (-similarity, index) per query."""
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sims = unit(query) @ unit(gallery).T  # (N_q, N_g)
    indices = []
    for q in range(len(query)):
        order = [j for j in np.lexsort((np.arange(len(gallery)), -sims[q])) if j != own_rows[q]]
        indices.append(order[:k])
    indices = np.array(indices)
    return indices, np.take_along_axis(sims, indices, 1)


def tie_heavy(seed, n):
    rng = np.random.default_rng(seed)
    return DYADIC[rng.integers(0, len(DYADIC), n)] * 2.0 ** rng.integers(-2, 3, (n, 1))


def random_embeddings(seed, n, d=5):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("make", [random_embeddings, tie_heavy], ids=["random", "tie_heavy"])
@pytest.mark.parametrize("k", [1, 7, 99])
def test_knn_matches_reference_order(make, k):
    x = make(0, 100)
    indices, sims = knn(x, None, k)
    expected_indices, expected_sims = reference_knn(x, x, k, np.arange(100))
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(sims, expected_sims, atol=1e-12)
    assert indices.dtype == np.int64 and indices.shape == (100, k)


@pytest.mark.parametrize("make", [random_embeddings, tie_heavy], ids=["random", "tie_heavy"])
def test_knn_with_gallery_and_query_indices(make):
    gallery = make(1, 80)
    rows = np.array([3, 50, 79, 0])
    query = gallery[rows]
    own = rows.copy()
    own[1] = -1  # this query keeps its own row as a candidate
    indices, _ = knn(query, gallery, 10, query_indices=own)
    np.testing.assert_array_equal(indices, reference_knn(query, gallery, 10, own)[0])
    assert indices[1, 0] == 50 or make is tie_heavy  # itself first (tie-heavy: a duplicate may precede it)
    # exclude_self=False: nothing excluded; PML's convention (query i == gallery row i) by default
    np.testing.assert_array_equal(knn(query, gallery, 10, exclude_self=False)[0],
                                  reference_knn(query, gallery, 10, [-1] * 4)[0])
    np.testing.assert_array_equal(knn(gallery[:5], gallery, 10)[0], reference_knn(gallery[:5], gallery, 10, range(5))[0])


def test_topk_stable_breaks_ties_by_column_across_the_cut():
    sims = torch.tensor([[0.0, -0.0, 0.5, 0.0, -0.0, 1.0, 0.5],  # -0.0 == 0.0: one tie group
                         [3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 0.0]])
    values, indices = topk_stable(sims, 4)
    assert indices.tolist() == [[5, 2, 6, 0], [0, 1, 2, 3]]
    assert values[1].tolist() == [3.0, 2.0, 2.0, 2.0]
    for k in range(1, 8):  # every cut, against a stable sort of the whole row
        for row in sims:
            expected = sorted(range(7), key=lambda j: (-float(row[j]), j))[:k]
            assert topk_stable(row[None], k)[1][0].tolist() == expected


def test_topk_stable_large_random_rows_with_float32_collisions():
    """Float32 values drawn from few levels: ties inside the top k and across the cut."""
    sims = torch.randint(0, 50, (64, 3000), generator=torch.Generator().manual_seed(0)).float() / 50
    values, indices = topk_stable(sims, 700)
    key = sims.double() * 1e6 - torch.arange(3000).double()  # exact order: value desc, column asc
    expected = key.argsort(dim=1, descending=True)[:, :700]
    assert torch.equal(indices, expected)
    assert torch.equal(values, sims.gather(1, expected))


def test_tiny_chunks_give_identical_results(monkeypatch):
    x = tie_heavy(2, 120)
    y = np.random.default_rng(2).integers(0, 4, 120)
    modes = y * 2 + np.random.default_rng(3).integers(0, 2, 120)
    proxies = np.random.default_rng(4).normal(size=(4, 2, 4))
    default_knn = knn(x, None, 15)
    default_eval = evaluate(x, y, modes, proxies)
    assert chunk_rows(120, 120, 8) >= 120  # the default budget holds all rows in one chunk
    monkeypatch.setattr(neighbours_module, "MEMORY_BUDGET_BYTES", 1)
    assert chunk_rows(120, 120, 8) == 1
    chunked_knn = knn(x, None, 15)
    np.testing.assert_array_equal(chunked_knn[0], default_knn[0])
    np.testing.assert_array_equal(chunked_knn[1], default_knn[1])
    assert evaluate(x, y, modes, proxies) == default_eval
    assert retrieval_metrics(x, y, chunk_size=7) == retrieval_metrics(x, y, chunk_size=1000)


def test_chunk_rows_follows_the_budget():
    assert chunk_rows(100_000, 8, 4) == neighbours_module.MEMORY_BUDGET_BYTES // (100_000 * 15 + 8 * 100)
    assert chunk_rows(10, 10, 4, chunk_size=3) == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: retrieval_metrics(np.array([[np.nan, 1.0], [1.0, 0.0]]), [0, 0]), "embeddings must be finite, got 1 row"),
        (lambda: retrieval_metrics(np.array([[np.inf, 1.0], [1.0, 0.0]]), [0, 0]), "embeddings must be finite"),
        (lambda: retrieval_metrics(np.ones(4), [0, 0, 1, 1]), r"embeddings must be a 2-D array \(N, d\), got shape \(4,\)"),
        (lambda: retrieval_metrics(np.ones((0, 3)), []), "embeddings must be non-empty"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1]), r"labels must have shape \(3,\), got \(2,\)"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0.0, 1.0, 1.0]), "labels must be integers, got dtype"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], ks=(0,)), "ks must be an int >= 1"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], ks=()), "ks must be an int >= 1"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], ks=(3,)), r"ks must be <= 2 \(candidates per query\), got 3"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], gallery=np.ones((3, 2))), "gallery and gallery_labels"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], gallery=np.ones((3, 3)), gallery_labels=[0, 1, 1]),
         "gallery must have 2 columns like the queries, got 3"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], gallery=np.ones((3, 2)), gallery_labels=[0, 1, 1],
                                   query_indices=[0, 1, 5]), r"query_indices must lie in \[-1, 2\]"),
        (lambda: retrieval_metrics(np.ones((2, 2)), [0, 1], gallery=np.ones((3, 2)), gallery_labels=[1, 1, 1],
                                   query_indices=[0, 1]), "gallery_labels must equal labels at query_indices"),
        (lambda: retrieval_metrics(np.ones((3, 2)), [0, 1, 1], ks=1, chunk_size=0), "chunk_size must be an int >= 1, got 0"),
        (lambda: retrieval_metrics([["a", "b"]], [0]), "embeddings must hold real numbers"),
        (lambda: knn(np.ones((3, 2)), None, 0), "k must be an int >= 1 and <= 2, got 0"),
        (lambda: knn(np.ones((3, 2)), None, 3), "k must be an int >= 1 and <= 2, got 3"),
        (lambda: knn(np.ones((1, 2)), None, 1), "gallery must hold at least one candidate"),
        (lambda: knn(np.ones((3, 2)), None, 1, exclude_self=1), "exclude_self must be a bool, got 1"),
        (lambda: knn(np.ones((4, 2)), np.ones((3, 2)), 1), "at most 3 queries, got 4"),
        (lambda: knn(np.ones((3, 2)), None, 1, query_indices=[0, 1, 2]), "query_indices must be None when gallery is None"),
        (lambda: nmi(np.ones((3, 2)), [0, 1, 1], seed=-1), "seed must be an int >= 0, got -1"),
        (lambda: mode_coverage(np.ones((3, 2)), [0, 1, 1], [0, 0, 1], np.ones((2, 1, 2))),
         "modes must each lie in one class, got mode 0"),
        (lambda: mode_coverage(np.ones((3, 2)), [0, 1, 1], [-1, -1, -1], np.ones((2, 1, 2))), "at least one known mode"),
        (lambda: mode_coverage(np.ones((3, 2)), [0, 1, 1], [0, 1, 1], np.ones((2, 2))),
         r"proxies must have shape \(C, K, 2\) with C, K >= 1, got \(2, 2\)"),
        (lambda: mode_coverage(np.ones((3, 2)), [0, 1, 2], [0, 1, 2], np.ones((2, 1, 2))), r"labels must lie in \[0, 1\]"),
        (lambda: mode_coverage(np.ones((3, 2)), [0, 1, 1], [0, -2, 1], np.ones((2, 1, 2))), "modes must be >= -1"),
    ],
)
def test_bad_input_raises_one_line_value_error(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_float32_input_is_computed_in_float32_and_agrees():
    x = random_embeddings(5, 60)
    _, sims32 = knn(x.astype(np.float32), None, 5)
    _, sims64 = knn(x, None, 5)
    assert sims32.dtype == np.float32 and sims64.dtype == np.float64
    np.testing.assert_allclose(sims32, sims64, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x, y = tie_heavy(6, 300), np.random.default_rng(6).integers(0, 5, 300)
    cpu = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y), chunk_size=64)
    cuda = retrieval_metrics(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), chunk_size=64)
    assert cuda == pytest.approx(cpu, abs=1e-12)
    np.testing.assert_array_equal(knn(torch.from_numpy(x).cuda(), None, 20)[0], knn(x, None, 20)[0])


LARGE_RUN = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, "tests")
    from bench.metrics import large_data, large_worker
    from proxylab.metrics import retrieval_metrics
    from test_metrics import reference_retrieval

    # the measured call: 45,000 queries against all 450,000 points (the memory of the full search, a tenth of its
    # time; `python -m bench --only metrics` times all 450,000 queries), peak RSS recorded here
    report = large_worker({"N": 450_000, "queries": 45_000})
    rng = np.random.default_rng(1)
    x, y = large_data(noise=2.0)
    counts = np.bincount(y)
    big = np.flatnonzero(counts[y] == counts.max())
    # 1. brute force (full float64 rows, Python sort on (-similarity, index)) for 30 queries, 10 from the
    #    largest class (R = 3,999), against the whole gallery
    rows = np.concatenate([rng.choice(len(y), 20, replace=False), rng.choice(big, 10, replace=False)])
    x = x.astype(np.float64)
    subset = dict(gallery=x, gallery_labels=y, query_indices=rows)
    report["subset_ours"] = retrieval_metrics(x[rows], y[rows], **subset)
    report["subset_reference"] = reference_retrieval(x[rows], y[rows], **subset)
    # 2. separated classes: every rank-based metric is 1, P@k = min(k, R_q) / k
    x, y = large_data(noise=0.1)
    rows = np.concatenate([rng.choice(len(y), 300, replace=False), rng.choice(big, 20, replace=False)])
    report["separated"] = retrieval_metrics(x[rows], y[rows], gallery=x, gallery_labels=y, query_indices=rows)
    report["separated_p_at_k"] = {k: float(np.mean(np.minimum(k, counts[y[rows]] - 1) / k)) for k in (1, 2, 4, 8)}
    # 3. no class structure: queries of the largest class hit at chance, R / (N - 1) per neighbour
    x = rng.standard_normal(x.shape, dtype=np.float32)
    rows = rng.choice(big, 2000, replace=False)
    report["random"] = retrieval_metrics(x[rows], y[rows], gallery=x, gallery_labels=y, query_indices=rows)
    report["chance_p"] = float((counts.max() - 1) / (len(y) - 1))
    print(json.dumps(report))
""")


@pytest.mark.slow
@pytest.mark.timeout(3 * 3600)
def test_450k_by_128_fits_in_4_gb_and_matches_the_reference():
    """N = 450,000, d = 128, SOP-like labels (bench.metrics.large_data): the whole fresh process peaks under
    4 GB; at that N, query subsets agree with the brute-force reference and give 1 / chance where known."""
    done = subprocess.run([sys.executable, "-c", LARGE_RUN], capture_output=True, text=True, timeout=3 * 3600,
                          check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print({k: report[k] for k in ("seconds", "maxrss_bytes", "peak_delta_bytes", "values", "threads")})
    assert report["maxrss_bytes"] < 4 * 2**30
    result = report["values"]
    assert (result["num_queries"], result["num_excluded"]) == (45_000, 0)
    assert 0.0 < result["MAP@R"] <= result["RP"] <= 1.0 and 0.0 < result["R@1"] <= result["R@8"] <= 1.0
    for name, expected in report["subset_reference"].items():
        assert report["subset_ours"][name] == pytest.approx(expected, abs=1e-12), name
    separated = report["separated"]
    assert all(separated[f"{m}@{k}"] == 1.0 for m in ("R", "nDCG") for k in (1, 2, 4, 8))
    assert separated["RP"] == separated["MAP@R"] == 1.0
    for k, expected in report["separated_p_at_k"].items():
        assert separated[f"P@{k}"] == pytest.approx(expected, abs=1e-12)
    p, n = report["chance_p"], report["random"]["num_queries"]
    for k in (1, 8):  # hit rate of k random neighbours, within 5 standard deviations
        chance = 1 - (1 - p) ** k
        assert abs(report["random"][f"R@{k}"] - chance) < 5 * (chance * (1 - chance) / n) ** 0.5, k
