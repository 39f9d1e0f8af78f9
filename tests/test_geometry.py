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
