"""proxylab.geometry against brute force: the nearest proxy and each mode's share of samples lost to another
class's proxy (what the coverage lesson, the player's proxy-outcome colouring and the demo's summary show)."""
from __future__ import annotations

import numpy as np

from proxylab.geometry import nearest_proxy, unit_rows, wrong_proxy_share_by_mode


def test_unit_rows_keeps_zero_rows_zero():
    out = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0, 0]])


def test_nearest_proxy_and_lost_shares_match_brute_force():
    rng = np.random.default_rng(0)
    x, proxies = rng.standard_normal((200, 5)), rng.standard_normal((4, 3, 5))
    labels, modes = rng.integers(0, 4, 200), rng.integers(-1, 6, 200)
    labels[modes >= 0] = modes[modes >= 0] // 2  # a mode lies in one class
    cls, sub, cos = nearest_proxy(x, proxies)
    for i in range(200):
        sims = [(x[i] @ p / np.linalg.norm(x[i]) / np.linalg.norm(p), c, k)
                for c in range(4) for k in range(3) for p in [proxies[c, k]]]
        best = max(sims, key=lambda t: t[0])
        assert (cls[i], sub[i]) == best[1:] and np.isclose(cos[i], best[0])
    shares = wrong_proxy_share_by_mode(x, labels, modes, proxies)
    assert sorted(shares) == sorted(set(modes[modes >= 0]))
    for m, share in shares.items():
        members = np.flatnonzero(modes == m)
        assert share == np.mean([cls[i] != labels[i] for i in members])


def test_samples_of_classes_without_proxies_are_left_out():
    x = np.eye(3)
    shares = wrong_proxy_share_by_mode(x, np.array([0, 1, 2]), np.array([0, 1, 2]), np.eye(3)[:2, None, :])
    assert shares == {0: 0.0, 1: 0.0}


def test_sub_proxy_share_and_dead_sub_proxies_match_brute_force():
    from proxylab.geometry import DEAD_SHARE, dead_sub_proxies, sub_proxy_share

    rng = np.random.default_rng(1)
    x, proxies, labels = rng.standard_normal((300, 6)), rng.standard_normal((5, 4, 6)), rng.integers(0, 4, 300)
    share = sub_proxy_share(x, labels, proxies)  # class 4 has no samples
    for c in range(5):
        members = [i for i in range(300) if labels[i] == c]
        used = [max(range(4), key=lambda k: x[i] @ proxies[c, k] / np.linalg.norm(proxies[c, k])) for i in members]
        expected = [used.count(k) / len(members) if members else 0.0 for k in range(4)]
        np.testing.assert_allclose(share[c], expected)
    dead = dead_sub_proxies(share)
    assert dead.tolist() == [[bool(0 < share[c].sum() and share[c, k] < DEAD_SHARE) for k in range(4)]
                             for c in range(5)]


def test_welch_floor_is_a_true_lower_bound():
    from proxylab.geometry import welch_floor

    assert welch_floor(8, 8) == 0.0 and welch_floor(24, 8) == (24 / 8 - 1) / 23
    rng = np.random.default_rng(2)
    for n, d in ((24, 8), (5, 2)):
        p = unit_rows(rng.standard_normal((n, d)))
        gram = p @ p.T
        assert ((gram ** 2).sum() - n) / (n * (n - 1)) >= welch_floor(n, d) - 1e-12
