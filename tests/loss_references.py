"""Second, independent implementations of every registered loss, written as plain loops over samples,
classes and proxies straight from SCIENCE.md §1 (naive ``log(1 + Σ exp)``; use float64).

``REFERENCES`` maps every registered loss name to ``(params, reference_fn)`` cases; a reference
returns the loss's parts (``pos``/``neg``/``reg``) as 0-d tensors built with autograd, so values and
gradients can be compared with the vectorised implementation. ``tests/test_loss_common.py`` fails if a
registered loss has no entry here.
"""
from __future__ import annotations

import torch

AGGREGATORS = ("softmax", "max", "lse", "mean")


def unit(v):
    return v / torch.sqrt((v * v).sum())


def cosine(x, w):
    return (unit(x) * unit(w)).sum()


def sims_table(loss, x):
    """s[i][c][k] as nested lists of 0-d tensors."""
    C, K, _ = loss.proxies.shape
    return [[[cosine(x[i], loss.proxies[c, k]) for k in range(K)] for c in range(C)] for i in range(len(x))]


def weights(values, aggregator, gamma):
    """Soft assignment q over a list of sub-proxy similarities."""
    K = len(values)
    if aggregator in ("softmax", "lse"):
        exps = [torch.exp(v / gamma) for v in values]
        total = sum(exps)
        return [e / total for e in exps]
    if aggregator == "max":
        best = max(range(K), key=lambda k: values[k].item())
        return [1.0 if k == best else 0.0 for k in range(K)]
    return [1.0 / K] * K


def aggregate(values, aggregator, gamma):
    if aggregator == "softmax":
        return sum(q * v for q, v in zip(weights(values, aggregator, gamma), values))
    if aggregator == "max":
        best = values[0]
        for v in values[1:]:
            best = torch.maximum(best, v)
        return best
    if aggregator == "lse":
        return gamma * torch.log(sum(torch.exp(v / gamma) for v in values))
    return sum(values) / len(values)


def zero(x):
    return x.sum() * 0.0


# -- ProxyNCA ---------------------------------------------------------------------------------
def ref_proxy_nca(loss, x, y, scale=None, exclude_positive=None):
    scale = loss.scale if scale is None else scale
    exclude_positive = loss.exclude_positive if exclude_positive is None else exclude_positive
    s = sims_table(loss, x)
    C, K, _ = loss.proxies.shape
    pos, neg = zero(x), zero(x)
    for i in range(len(x)):
        mass = [sum(torch.exp(-scale * (2 - 2 * s[i][c][k])) for k in range(K)) for c in range(C)]
        pos = pos - torch.log(mass[int(y[i])])
        others = [mass[c] for c in range(C) if not (exclude_positive and c == int(y[i]))]
        if others:
            neg = neg + torch.log(sum(others))
    return {"pos": pos / len(x), "neg": neg / len(x)}


def ref_proxy_nca_pp(loss, x, y):
    return ref_proxy_nca(loss, x, y, scale=1.0 / loss.temperature, exclude_positive=False)


# -- Proxy Anchor and the MPA family ----------------------------------------------------------
def anchor_sums(anchor_sims, anchor_class, y, alpha, delta, pos_weights=None):
    """Proxy Anchor over anchors: anchor_sims[a][i], anchor_class[a]; pos_weights[a][i] optional."""
    present = {int(c) for c in y}
    pos_terms, neg_terms = [], []
    for a, row in enumerate(anchor_sims):
        h_pos, h_neg = row[0] * 0.0, row[0] * 0.0
        for i, s in enumerate(row):
            if int(y[i]) == anchor_class[a]:
                w = 1.0 if pos_weights is None else pos_weights[a][i]
                h_pos = h_pos + w * torch.exp(-alpha * (s - delta))
            else:
                h_neg = h_neg + torch.exp(alpha * (s + delta))
        if anchor_class[a] in present:
            pos_terms.append(torch.log(1 + h_pos))
        neg_terms.append(torch.log(1 + h_neg))
    return sum(pos_terms) / len(pos_terms), sum(neg_terms) / len(neg_terms)


def ref_proxy_anchor(loss, x, y):
    s = sims_table(loss, x)
    C, K, _ = loss.proxies.shape
    anchors = [[s[i][c][k] for i in range(len(x))] for c in range(C) for k in range(K)]
    pos, neg = anchor_sums(anchors, [c for c in range(C) for _ in range(K)], y, loss.alpha, loss.margin)
    return {"pos": pos, "neg": neg}


def class_sims(loss, x):
    s = sims_table(loss, x)
    return [[aggregate(s[i][c], loss.aggregator, loss.gamma) for c in range(len(s[i]))] for i in range(len(x))]


def ref_mpa(loss, x, y):
    S = class_sims(loss, x)
    C = loss.num_classes
    anchors = [[S[i][c] for i in range(len(x))] for c in range(C)]
    pos, neg = anchor_sums(anchors, list(range(C)), y, loss.alpha, loss.margin)
    return {"pos": pos, "neg": neg}


def ref_mpa_dw(loss, x, y):
    S = class_sims(loss, x)
    a, d = loss.alpha, loss.margin
    pos, neg = zero(x), zero(x)
    for i in range(len(x)):
        yi = int(y[i])
        pos = pos + torch.log(1 + torch.exp(-a * (S[i][yi] - d)))
        neg = neg + torch.log(1 + sum((torch.exp(a * (S[i][c] + d)) for c in range(loss.num_classes) if c != yi),
                                      torch.tensor(0.0, dtype=x.dtype)))
    return {"pos": pos / len(x), "neg": neg / len(x)}


def ref_mpa_pw(loss, x, y):
    s = sims_table(loss, x)
    C, K, _ = loss.proxies.shape
    q = [[weights(s[i][c], loss.aggregator, loss.gamma) for c in range(C)] for i in range(len(x))]
    anchors, classes, pos_weights = [], [], []
    for c in range(C):
        for k in range(K):
            anchors.append([s[i][c][k] for i in range(len(x))])
            classes.append(c)
            pos_weights.append([q[i][c][k] for i in range(len(x))])
    pos, neg = anchor_sums(anchors, classes, y, loss.alpha, loss.margin, pos_weights)
    return {"pos": pos, "neg": neg}


# -- SoftTriple -------------------------------------------------------------------------------
def ref_soft_triple(loss, x, y):
    s = sims_table(loss, x)
    C, K, _ = loss.proxies.shape
    lam, delta = loss.scale, loss.margin
    pos, neg = zero(x), zero(x)
    for i in range(len(x)):
        yi = int(y[i])
        S = [aggregate(s[i][c], "softmax", loss.gamma) for c in range(C)]
        own = lam * (S[yi] - delta)
        pos = pos - own
        neg = neg + torch.log(torch.exp(own) + sum(torch.exp(lam * S[c]) for c in range(C) if c != yi))
    parts = {"pos": pos / len(x), "neg": neg / len(x)}
    if loss.tau > 0 and K > 1:
        R = 0.0
        for c in range(C):
            for t in range(K):
                for u in range(t + 1, K):
                    R = R + torch.sqrt(2 - 2 * cosine(loss.proxies[c, t], loss.proxies[c, u]) + 1e-5)
        parts["reg"] = loss.tau * R / (C * K * (K - 1))
    return parts


# -- Triplet ----------------------------------------------------------------------------------
def ref_triplet(loss, x, y):
    B, m = len(x), loss.margin
    u = [unit(v) for v in x]

    def dist(i, j):
        return torch.sqrt(((u[i] - u[j]) ** 2).sum())

    triplets = []
    for a in range(B):
        positives = [p for p in range(B) if p != a and int(y[p]) == int(y[a])]
        negatives = [n for n in range(B) if int(y[n]) != int(y[a])]
        if loss.mining == "batch_hard":
            if positives and negatives:
                p = max(positives, key=lambda j: dist(a, j).item())
                n = min(negatives, key=lambda j: dist(a, j).item())
                triplets.append((a, p, n))
        else:
            for p in positives:
                for n in negatives:
                    gap = (dist(a, n) - dist(a, p)).item()
                    if 0 < gap < m:
                        triplets.append((a, p, n))
    active = [(a, p, n) for a, p, n in triplets if (dist(a, p) - dist(a, n) + m).item() > 0]
    if not active:
        return {"pos": zero(x), "neg": zero(x)}
    pos = sum(dist(a, p) for a, p, _ in active) / len(active)
    neg = sum(m - dist(a, n) for a, _, n in active) / len(active)
    return {"pos": pos, "neg": neg}


MPA_CASES = [dict(aggregator=a) for a in AGGREGATORS]
REFERENCES = {
    "proxy_nca": [(dict(), ref_proxy_nca), (dict(exclude_positive=True, scale=3.0), ref_proxy_nca),
                  (dict(proxies_per_class=3, scale=2.0), ref_proxy_nca),
                  (dict(proxies_per_class=3, exclude_positive=True), ref_proxy_nca)],
    "proxy_nca_pp": [(dict(), ref_proxy_nca_pp), (dict(proxies_per_class=2, temperature=0.5), ref_proxy_nca_pp)],
    "proxy_anchor": [(dict(), ref_proxy_anchor), (dict(proxies_per_class=3, alpha=16.0, margin=0.2), ref_proxy_anchor)],
    "soft_triple": [(dict(proxies_per_class=3), ref_soft_triple), (dict(proxies_per_class=1), ref_soft_triple),
                    (dict(proxies_per_class=4, tau=0.0, gamma=0.5), ref_soft_triple)],
    "mpa": [(dict(proxies_per_class=3, **c), ref_mpa) for c in MPA_CASES],
    "mpa_dw": [(dict(proxies_per_class=3, **c), ref_mpa_dw) for c in MPA_CASES],
    "mpa_pw": [(dict(proxies_per_class=3, **c), ref_mpa_pw) for c in MPA_CASES],
    "triplet": [(dict(), ref_triplet), (dict(mining="semi_hard", margin=0.5), ref_triplet)],
}
