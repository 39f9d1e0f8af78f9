"""``synthetic``: Gaussian mixtures with C classes x M modes and ground-truth mode labels.

The default is built so that one proxy per class *cannot* work with a linear embedder followed
by L2 normalisation. Every class c gets its own random orthonormal frame in R^D: a class direction
u_c and, orthogonal to it, the M vertices v_{c,m} of a regular simplex centred on the origin. Mode
centres are ``normalize((1 - t) * u_c + t * v_{c,m})`` with t = ``interleave``:

* t = 1 (default): the modes of a class are the simplex vertices — on opposite sides of the origin
  (antipodal for M = 2), with the modes of other classes between them — and they sum to zero. A
  linear map W keeps that sum at zero, so no direction has a positive cosine with every mode of a
  class after normalisation: a single proxy covers part of its class at best, while K >= M proxies
  per class can sit on every mode.
* t = 0: the modes of a class coincide at u_c (one centre per class; a single proxy suffices).
* in between, the modes fan out around u_c.

``layout="ring"`` puts all centres on one great circle (in a random plane) instead, classes
alternating: mode m of class c at angle 2*pi*((1 - t)*c/C + t*(c + C*m)/(C*M)), i.e. for t = 1
slot m*C + c of C*M evenly spaced slots. It is the clearest picture in 2-D, and a hard optimisation
problem even for multi-proxy losses (the proxies must line up in the alternating order).

``layout="triads"`` (M = 2, C a multiple of 3, D >= C; ``interleave`` unused) is the coverage lesson's sphere:
the classes come in groups of three, each group on its own random 3-D subspace. In a group's frame, class j's
first mode lies on the equator at longitude 120°·j and its second at latitude 45°, longitude 120°·j + 110°:
a class's two modes are 104° apart and its second mode lies 46° from the next class's first. With the
``identity`` model (the data are the embedding) one proxy per class settles between its two modes (cosine about
0.55 to each) and 14-47 % of every mode's samples are nearer another class's proxy than their own; two
sub-proxies per class land one on each mode (cosine >= 0.9) and lose at most 6 % (seeds 0-2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..params import Interval, Options
from .dataset import LabeledDataset
from .registry import DatasetLoader, register_dataset
from .splits import Source

LAYOUTS = ("subspaces", "ring", "triads")
#: where a class's second mode lies in the ``triads`` layout, in degrees: latitude, and longitude after its first
TRIAD_LATITUDE = 45.0
TRIAD_LONGITUDE = 110.0


def mode_centres(
    num_classes: int, modes_per_class: int, dim: int, layout: str, interleave: float, rng: np.random.Generator
) -> np.ndarray:
    """Unit-norm centres of every mode, shape (C, M, D); mode m of class c is ``centres[c, m]``."""
    t = interleave
    if layout == "ring":
        c_idx, m_idx = np.meshgrid(np.arange(num_classes), np.arange(modes_per_class), indexing="ij")  # (C, M)
        turns = (1 - t) * c_idx / num_classes + t * (c_idx + num_classes * m_idx) / (num_classes * modes_per_class)
        plane, _ = np.linalg.qr(rng.standard_normal((dim, 2)))  # (D, 2) random orthonormal basis
        return np.stack([np.cos(2 * np.pi * turns), np.sin(2 * np.pi * turns)], axis=-1) @ plane.T  # (C, M, D)
    if layout == "triads":
        return _triad_centres(num_classes, dim, rng)
    # Regular simplex centred on the origin: rows e_m - 1/M, unit norm (for M = 1 the single vertex e_0,
    # so that interleave = 1 still gives one well-defined mode).
    simplex = np.eye(modes_per_class) - (1.0 / modes_per_class if modes_per_class > 1 else 0.0)  # (M, M)
    simplex /= np.linalg.norm(simplex, axis=1, keepdims=True)
    centres = np.empty((num_classes, modes_per_class, dim))
    for c in range(num_classes):
        frame, _ = np.linalg.qr(rng.standard_normal((dim, modes_per_class + 1)))  # (D, M+1) orthonormal
        class_dir, vertices = frame[:, 0], simplex @ frame[:, 1:].T  # (D,), (M, D); vertices ⟂ class_dir
        centres[c] = (1 - t) * class_dir + t * vertices
    return centres / np.linalg.norm(centres, axis=-1, keepdims=True)


def _triad_centres(num_classes: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(C, 2, D): groups of three classes, each on its own orthonormal 3-D frame (see the module docstring)."""
    lat = np.radians(TRIAD_LATITUDE)
    lon = 2 * np.pi * np.arange(3) / 3
    lon2 = lon + np.radians(TRIAD_LONGITUDE)
    first = np.stack([np.cos(lon), np.sin(lon), np.zeros(3)], axis=1)  # (3, 3): class j's first mode
    second = np.stack([np.cos(lat) * np.cos(lon2), np.cos(lat) * np.sin(lon2), np.full(3, np.sin(lat))], axis=1)
    group = np.stack([first, second], axis=1)  # (3, 2, 3)
    frames, _ = np.linalg.qr(rng.standard_normal((dim, dim)))  # random rotation; groups take 3 columns each
    return np.concatenate([group @ frames[:, 3 * g:3 * g + 3].T for g in range(num_classes // 3)])  # (C, 2, D)


@register_dataset("synthetic")
class SyntheticLoader(DatasetLoader):
    """Gaussian mixture, C classes x M modes in R^D, seeded; the modes are ground truth.

    Parameters
    ----------
    num_classes : int, default=6
        C, the total number of classes (the zero-shot split trains on the first half and tests on
        the rest, all generated by the same process).
    modes_per_class : int, default=3
        M, modes (local centres) per class; the global mode id of mode m of class c is c*M + m.
    samples_per_mode : int, default=100
        Samples drawn around every mode centre.
    dim : int, default=16
        D, the input dimension; ``subspaces`` needs D >= M + 1.
    spread : float, default=0.4
        Typical distance of a sample from its mode centre (centres have norm 1): the noise is
        isotropic Gaussian with std ``spread / sqrt(D)`` per coordinate.
    interleave : float in [0, 1], default=1.0
        t, how far the modes of a class are spread apart (see the module docstring); 1 = fully
        interleaved (single proxies fail), 0 = one centre per class.
    layout : {"subspaces", "ring", "triads"}, default="subspaces"
        Where the mode centres lie (see the module docstring).
    space : {"euclidean", "sphere"}, default="euclidean"
        ``sphere`` L2-normalises every sample, i.e. generates directly on the unit sphere.
    """

    default_split = "per-sample"
    needs_root = False
    parameter_constraints = {
        "num_classes": [Interval(int, 2, 1000)],
        "modes_per_class": [Interval(int, 1, 100)],
        "samples_per_mode": [Interval(int, 1, 100_000)],
        "dim": [Interval(int, 2, 10_000)],
        "spread": [Interval(float, 0, None, closed="neither")],
        "interleave": [Interval(float, 0, 1)],
        "layout": [Options(LAYOUTS)],
        "space": [Options(["euclidean", "sphere"])],
    }

    @classmethod
    def load(
        cls,
        root: Path | None,
        seed: int,
        num_classes: int = 6,
        modes_per_class: int = 3,
        samples_per_mode: int = 100,
        dim: int = 16,
        spread: float = 0.4,
        interleave: float = 1.0,
        layout: str = "subspaces",
        space: str = "euclidean",
    ) -> Source:
        if layout == "subspaces" and dim < modes_per_class + 1:
            raise ValueError(f"dim must be >= modes_per_class + 1 = {modes_per_class + 1} for layout='subspaces', got {dim}")
        if layout == "triads" and (modes_per_class != 2 or num_classes % 3 or dim < num_classes):
            raise ValueError("layout='triads' needs modes_per_class = 2, num_classes a multiple of 3 and dim >= "
                             f"num_classes, got {modes_per_class}, {num_classes} and {dim}")
        rng = np.random.default_rng([seed, 0])  # stream 0: generation (stream 1 splits)
        centres = mode_centres(num_classes, modes_per_class, dim, layout, interleave, rng)  # (C, M, D)
        mode_of_sample = np.repeat(np.arange(num_classes * modes_per_class), samples_per_mode)  # (N,)
        noise = rng.standard_normal((len(mode_of_sample), dim)) * (spread / np.sqrt(dim))  # (N, D)
        x = centres.reshape(-1, dim)[mode_of_sample] + noise  # (N, D)
        if space == "sphere":
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        class_names = [f"c{c}" for c in range(num_classes)]
        data = LabeledDataset(
            mode_of_sample // modes_per_class, class_names, features=x.astype(np.float32), modes=mode_of_sample
        )
        mode_names = [f"{name}.m{m}" for name in class_names for m in range(modes_per_class)]
        description = (
            f"synthetic Gaussian mixture: {num_classes} classes x {modes_per_class} modes x {samples_per_mode} "
            f"samples in R^{dim}, layout={layout}, interleave={interleave}, spread={spread}, space={space}"
        )
        return Source(data, description, mode_names)
