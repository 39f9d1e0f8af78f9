"""The player's wire format: every snapshot of a run packed once into one compact binary blob.

Layout (little-endian): ``b"PXPL"``, uint32 header length H, H bytes of UTF-8 JSON header, zero padding to a
multiple of 8, then the arrays. The header names each array's dtype, shape and byte offset (relative to the
start of the array section, so the header can grow — :func:`with_view` adds the view options — without
moving them). Coordinates are quantised to uint16 per axis with bounds shared by all steps, points and
proxies (so motion between steps is not rescaling). Gradient norms travel per step on a log scale as uint16: 0 is
an exact zero, 65535 "not computed", 1 … 65534 span log10 of that step's smallest to largest positive norm
(``grad_log_bounds``), so a tooltip reads the stored value within 0.07 % over 40 decades (0.15 % over float32's
whole range), and a colour by gradient is a log scale of that step.
Nothing here is pickled; :func:`decode_payload` is the reference reader the JavaScript mirrors.

Linked panes (two runs side by side, one step, one camera) travel as one blob too (:func:`link_payloads`):
``b"PXPM"``, uint32 count n, n uint32 lengths, then each payload, each starting at a multiple of 8.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: the wire format's one description, shared with the JavaScript (frontend/src/wire-types.js is generated from it):
#: magic strings, version, the header's keys, every array's dtype and shape, the view and the browser's reports
WIRE: dict[str, Any] = json.loads((Path(__file__).with_name("wire.json")).read_text(encoding="utf-8"))
MAGIC = WIRE["magic"].encode()
LINKED_MAGIC = WIRE["linked_magic"].encode()
VERSION = WIRE["version"]  # 2: gradient norms as per-step log uint16 (1: uint8 over the whole run's linear range)
COORD_LEVELS = WIRE["coord_levels"]  # uint16: 0 … 65535
GRAD_ZERO, GRAD_MISSING = WIRE["grad"]["zero"], WIRE["grad"]["missing"]  # uint16: an exact zero, "not computed"
GRAD_LEVELS = WIRE["grad"]["levels"]  # codes 1 … 65534: log10 of the step's positive norms, lo … hi
#: colour by gradient: 256 bins of the step's log range (zero in the first), then "not computed"
GRAD_COLOURS = WIRE["grad"]["colours"]
IMAGE_BUDGET_BYTES = 16 * 2**20  # thumbnails in one payload: 8×8 digits × 250k, or 32×32 RGB × 5k
_ALIGN = WIRE["align"]


def quantise(values: np.ndarray, lo: float, hi: float, levels: int) -> np.ndarray:
    """Map values in [lo, hi] to integers 0 … levels (rounded). hi == lo maps everything to 0."""
    span = hi - lo
    scaled = (np.asarray(values, dtype=np.float64) - lo) / span * levels if span > 0 else np.zeros(np.shape(values))
    return np.clip(np.rint(scaled), 0, levels)


def dequantise(codes: np.ndarray, lo: float, hi: float, levels: int) -> np.ndarray:
    """Inverse of :func:`quantise` (up to half a quantisation step, (hi - lo) / levels / 2)."""
    return lo + np.asarray(codes, dtype=np.float64) * ((hi - lo) / levels)


def encode_grad(grad_norm: np.ndarray) -> tuple[np.ndarray, list[list[float] | None]]:
    """Gradient norms (S, N) (NaN = not computed, ≥ 0) → uint16 codes (S, N) and, per step, [lo, hi] of log10 of
    its positive norms (None for a step with none). Relative error of a decoded value ≤ 10^((hi-lo)/65533/2) - 1
    (0.07 % over 40 decades, 0.15 % over float32's 83)."""
    grad_norm = np.asarray(grad_norm, dtype=np.float64)
    codes = np.full(grad_norm.shape, GRAD_MISSING, dtype="<u2")
    bounds: list[list[float] | None] = []
    for s, row in enumerate(grad_norm):
        known = np.isfinite(row)
        if (row[known] < 0).any():
            raise ValueError(f"grad_norm must be >= 0 (a norm), got {row[known].min()} at step index {s}")
        codes[s][known & (row == 0)] = GRAD_ZERO
        positive = known & (row > 0)
        if not positive.any():
            bounds.append(None)
            continue
        logs = np.log10(row[positive])
        lo, hi = float(logs.min()), float(logs.max())
        codes[s][positive] = 1 + quantise(logs, lo, hi, GRAD_LEVELS).astype("<u2")
        bounds.append([lo, hi])
    return codes, bounds


def grad_colour(codes: np.ndarray) -> np.ndarray:
    """The palette index of each uint16 gradient code (the JavaScript computes the same): 0 … 255 over the step's
    log range, an exact zero in bin 0, GRAD_COLOURS for "not computed"."""
    codes = np.asarray(codes, dtype=np.int64)
    bins = np.minimum(GRAD_COLOURS - 1, 1 + (np.maximum(codes, 1) - 1) * (GRAD_COLOURS - 1) // GRAD_LEVELS)
    return np.where(codes == GRAD_MISSING, GRAD_COLOURS, np.where(codes == GRAD_ZERO, 0, bins))


def decode_grad(codes: np.ndarray, bounds: Sequence[Sequence[float] | None]) -> np.ndarray:
    """Inverse of :func:`encode_grad`: (S, N) float64, NaN where not computed."""
    out = np.full(codes.shape, np.nan)
    for s, (row, b) in enumerate(zip(codes, bounds)):
        out[s][row == GRAD_ZERO] = 0.0
        positive = (row != GRAD_ZERO) & (row != GRAD_MISSING)
        if b is not None and positive.any():
            out[s][positive] = 10.0 ** dequantise(row[positive].astype(np.float64) - 1, b[0], b[1], GRAD_LEVELS)
    return out


def _check_shape(name: str, array: np.ndarray, shape: tuple) -> None:
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")


def _bounds(*arrays: np.ndarray) -> list[list[float]]:
    """[[lo, hi] per axis] over the finite values of arrays (..., D)."""
    stacked = np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays if a.size], axis=0)
    if not np.isfinite(stacked).all():
        raise ValueError("points and proxies must be finite, got NaN or inf coordinates")
    return [[float(lo), float(hi)] for lo, hi in zip(stacked.min(axis=0), stacked.max(axis=0))]


def encode_payload(steps: Sequence[int], points: np.ndarray, labels: np.ndarray, modes: np.ndarray,
                   split: np.ndarray, index: np.ndarray, grad_norm: np.ndarray,
                   proxies: np.ndarray | None = None, *, class_names: Sequence[str] | None = None,
                   palettes: dict[str, list[str]] | None = None, mode_colour: np.ndarray | None = None,
                   title: str = "", nearest_proxy: np.ndarray | None = None,
                   images: np.ndarray | None = None, sphere: bool = False,
                   mode_links: dict[str, np.ndarray] | None = None,
                   proxy_steps: np.ndarray | None = None, neighbour_same_class: np.ndarray | None = None) -> bytes:
    """Pack a run's aligned 2-D projections and per-point attributes for the browser.

    Parameters
    ----------
    steps : sequence of int, length S
        Snapshot steps, in playing order.
    points : ndarray of shape (S, N, D), D = 2 or 3
        Projected samples per step (the same N samples, in the same order, at every step); D = 3 is drawn as a
        3-D view the browser rotates.
    labels, modes, split, index : ndarray of shape (N,)
        Class, ground-truth mode (-1 unknown), split (0 train, 1 test) and row in its split of each sample.
    grad_norm : ndarray of shape (S, N)
        Per-sample gradient norm per step, NaN where not computed.
    proxies : ndarray of shape (S, C, K, D), optional
        Projected proxies per step; proxy (c, k) belongs to class c.
    class_names : sequence of str, optional
        Names indexed by label (hover text).
    palettes : dict of str to list of str, optional
        Colours (CSS hex) per colouring: "label" indexed by class, "mode" by `mode_colour`, "split" by split,
        "grad_norm" by the uint8 code (GRAD_LEVELS + 1 colours).
    mode_colour : ndarray of shape (N,), optional
        Index into palettes["mode"] of each sample (default: 0 for every sample).
    title : str
        Shown above the canvas.
    nearest_proxy : ndarray of shape (S, N), optional
        Per step, the flat index c·K + k of each sample's most similar proxy in the embedding space (hover text;
        not the nearest marker on screen, which a projection can move).
    images : ndarray of shape (N, H, W, C), uint8, optional
        Thumbnails of the samples (image data; C = 1 or 3), shown on hover. Sent at most
        ``IMAGE_BUDGET_BYTES``: larger sets are downsampled by a whole stride (nearest pixel).
    sphere : bool
        3-D only: the points are on the unit sphere (a native d = 3 run); the browser outlines it.
    mode_links : dict, optional
        Each ground-truth mode joined to the sub-proxy it is assigned to, per step (the Lessons' coverage
        picture): ``"centres"`` (S, M, D), where each mode's centre is drawn; ``"proxy"`` (S, M), the flat index
        c·K + k of its assigned proxy; ``"covered"`` (S, M), bool, whether its nearest proxy is of its class.
    neighbour_same_class : ndarray of shape (S, N), uint8, optional
        Per step, whether each sample's nearest neighbour in its split has its class (1), not (0), or was not
        computed (255): the player's colour by retrieval outcome (``analysis.neighbour_same_class``).
    proxy_steps : ndarray of shape (S,), bool, optional
        Which steps have proxies (a run logged or imported with proxies at some steps only; default: all). At a
        step without, the browser draws no proxy, no trajectory vertex, no mode link and no nearest proxy; its
        entries in `proxies`, `nearest_proxy` and `mode_links` must still be finite and in range (any value).

    Returns
    -------
    bytes
        The blob described in the module docstring.
    """
    steps = [int(s) for s in steps]
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[2] not in (2, 3):
        raise ValueError(f"points must have shape (steps, N, 2|3), got {points.shape}")
    dims = points.shape[2]
    n_steps, n_points = points.shape[:2]
    if n_steps != len(steps) or n_steps == 0:
        raise ValueError(f"points must have one entry per step ({len(steps)} steps, at least 1), got {n_steps}")
    attributes = {name: np.asarray(a) for name, a in
                  dict(labels=labels, modes=modes, split=split, index=index).items()}
    for name, array in attributes.items():
        _check_shape(name, array, (n_points,))
    grad_norm = np.asarray(grad_norm, dtype=np.float64)
    _check_shape("grad_norm", grad_norm, (n_steps, n_points))
    mode_colour = np.zeros(n_points, dtype=np.int64) if mode_colour is None else np.asarray(mode_colour)
    _check_shape("mode_colour", mode_colour, (n_points,))
    if proxies is None:
        proxies = np.zeros((n_steps, 0, 0, dims))
    proxies = np.asarray(proxies, dtype=np.float64)
    if proxies.ndim != 4 or proxies.shape[0] != n_steps or proxies.shape[3] != dims:
        raise ValueError(f"proxies must have shape ({n_steps}, C, K, {dims}), got {proxies.shape}")
    n_classes, per_class = proxies.shape[1:3]
    proxy_steps = np.ones(n_steps, bool) if proxy_steps is None else np.asarray(proxy_steps, dtype=bool)
    _check_shape("proxy_steps", proxy_steps, (n_steps,))
    flat_proxies = proxies.reshape(n_steps, n_classes * per_class, dims)

    links = _mode_links(mode_links, n_steps, dims, n_classes * per_class)
    bounds = _bounds(points, flat_proxies, *([links["centres"]] if links else []))
    grad_codes, grad_log_bounds = encode_grad(grad_norm)

    def coords(xy: np.ndarray) -> np.ndarray:
        return np.stack([quantise(xy[..., a], *bounds[a], COORD_LEVELS) for a in range(dims)], axis=-1).astype("<u2")

    extra = {}
    if nearest_proxy is not None:
        nearest_proxy = np.asarray(nearest_proxy)
        _check_shape("nearest_proxy", nearest_proxy, (n_steps, n_points))
        n_proxies = n_classes * per_class
        if n_proxies == 0 or nearest_proxy.min(initial=0) < 0 or nearest_proxy.max(initial=0) >= n_proxies:
            raise ValueError(f"nearest_proxy must index the {n_proxies} proxies, got values outside 0..{n_proxies - 1}")
        extra["nearest_proxy"] = nearest_proxy.astype("u1" if n_proxies <= 256 else "<u2")  # (S, N)
    if neighbour_same_class is not None:
        neighbour_same_class = np.asarray(neighbour_same_class)
        _check_shape("neighbour_same_class", neighbour_same_class, (n_steps, n_points))
        if not np.isin(neighbour_same_class, (0, 1, 255)).all():
            raise ValueError("neighbour_same_class must hold 0, 1 or 255 (not computed)")
        extra["neighbour_same_class"] = neighbour_same_class.astype("u1")  # (S, N)
    if images is not None:
        extra["images"] = fit_images(np.asarray(images), n_points)  # (N, h, w, C)
    if links:
        extra["mode_centres"] = coords(links["centres"])  # (S, M, D)
        extra["mode_proxy"] = links["proxy"]  # (S, M)
        extra["mode_covered"] = links["covered"]  # (S, M)
    arrays = {
        "points": coords(points),  # (S, N, D)
        "proxies": coords(flat_proxies),  # (S, C*K, D)
        "proxy_class": np.repeat(np.arange(n_classes), per_class).astype("<u2"),
        "proxy_k": np.tile(np.arange(per_class), n_classes).astype("u1"),
        "proxy_steps": proxy_steps.astype("u1"),  # (S,) 1 where the step has proxies
        "labels": attributes["labels"].astype("<i4"),
        "modes": attributes["modes"].astype("<i4"),
        "split": attributes["split"].astype("u1"),
        "index": attributes["index"].astype("<i4"),
        "mode_colour": mode_colour.astype("<u2"),
        "grad_norm": grad_codes,  # (S, N) uint16, log per step
        **extra,
    }
    body, table = bytearray(), {}
    for name, array in arrays.items():
        body += b"\0" * (-len(body) % _ALIGN)
        table[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": len(body)}
        body += np.ascontiguousarray(array).tobytes()
    header = {"version": VERSION, "id": hashlib.sha1(bytes(body)).hexdigest()[:16], "steps": steps,
              "n_points": n_points, "n_proxies": n_classes * per_class, "dims": dims, "bounds": bounds,
              "grad_log_bounds": grad_log_bounds, "coord_levels": COORD_LEVELS, "grad_levels": GRAD_LEVELS,
              "class_names": list(class_names) if class_names else None, "palettes": palettes or {},
              "title": title, "sphere": bool(sphere and dims == 3), "arrays": table}
    return _pack(header, bytes(body))


def _mode_links(links: dict[str, np.ndarray] | None, n_steps: int, dims: int, n_proxies: int) -> dict | None:
    """`mode_links` checked and typed for the wire (see :func:`encode_payload`); None when there are none."""
    if links is None:
        return None
    if set(links) != {"centres", "proxy", "covered"}:
        raise ValueError(f"mode_links must have the keys centres, proxy, covered, got {sorted(links)}")
    centres = np.asarray(links["centres"], dtype=np.float64)
    if centres.ndim != 3 or centres.shape[0] != n_steps or centres.shape[2] != dims:
        raise ValueError(f"mode_links centres must have shape ({n_steps}, M, {dims}), got {centres.shape}")
    proxy, covered = np.asarray(links["proxy"]), np.asarray(links["covered"])
    _check_shape("mode_links proxy", proxy, centres.shape[:2])
    _check_shape("mode_links covered", covered, centres.shape[:2])
    if proxy.size and (proxy.min() < 0 or proxy.max() >= n_proxies):
        raise ValueError(f"mode_links proxy must index the {n_proxies} proxies, got values outside 0..{n_proxies - 1}")
    return {"centres": centres, "proxy": proxy.astype("u1" if n_proxies <= 256 else "<u2"),
            "covered": covered.astype(bool).astype("u1")}


def fit_images(images: np.ndarray, n_points: int) -> np.ndarray:
    """Thumbnails (N, H, W, C) uint8 within ``IMAGE_BUDGET_BYTES``: every s-th row and column (nearest pixel) for the
    smallest whole stride s that fits."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] != n_points or images.shape[3] not in (1, 3):
        raise ValueError(f"images must be uint8 shaped ({n_points}, H, W, 1|3), got {images.dtype} {images.shape}")
    stride = 1
    while images[:, ::stride, ::stride].nbytes > IMAGE_BUDGET_BYTES and stride < max(images.shape[1:3]):
        stride += 1
    return np.ascontiguousarray(images[:, ::stride, ::stride])


def _pack(header: dict[str, Any], body: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    prefix = MAGIC + struct.pack("<I", len(text)) + text
    return prefix + b"\0" * (-len(prefix) % _ALIGN) + body


def _split(blob: bytes) -> tuple[dict[str, Any], memoryview]:
    if blob[:4] != MAGIC:
        raise ValueError(f"payload must start with {MAGIC!r}, got {bytes(blob[:4])!r}")
    (length,) = struct.unpack_from("<I", blob, 4)
    header = json.loads(bytes(blob[8:8 + length]))
    start = 8 + length
    start += -start % _ALIGN
    return header, memoryview(blob)[start:]


def payload_header(blob: bytes) -> dict[str, Any]:
    """The JSON header of a payload alone (steps, n_points, …), without decoding its arrays."""
    return _split(blob)[0]


def payload_id(blob: bytes) -> str:
    """The content id of a payload (a hash of its arrays, whatever view its header carries)."""
    return _split(blob)[0]["id"]


def with_view(blob: bytes, view: dict[str, Any]) -> bytes:
    """The same payload with `view` (initial step, colouring, selection…) in its header."""
    header, body = _split(blob)
    return _pack({**header, "view": view}, bytes(body))


def decode_payload(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of a payload, coordinates and gradient norms back in their own units.

    Returns
    -------
    header : dict
        The JSON header.
    arrays : dict of str to ndarray
        As packed, plus "points_xy" (S, N, D), "proxies_xy" (S, P, D), "mode_centres_xy" (S, M, D) when the
        payload has mode links, and "grad_norm_value" (S, N; NaN where not computed), decoded.
    """
    header, body = _split(blob)
    arrays = {}
    for name, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"]))
        arrays[name] = np.frombuffer(body, dtype=dtype, count=count, offset=spec["offset"]).reshape(spec["shape"])
    for name in ("points", "proxies", "mode_centres"):
        if name not in arrays:
            continue
        codes = arrays[name]
        arrays[f"{name}_xy"] = np.stack([dequantise(codes[..., a], *header["bounds"][a], header["coord_levels"])
                                         for a in range(codes.shape[-1])], axis=-1)
    arrays["grad_norm_value"] = decode_grad(arrays["grad_norm"], header["grad_log_bounds"])
    return header, arrays


def link_payloads(blobs: Sequence[bytes]) -> bytes:
    """Several payloads as one (the player's linked panes, in order); the inverse is :func:`unlink_payloads`."""
    if not blobs:
        raise ValueError("link_payloads needs at least one payload, got none")
    for i, blob in enumerate(blobs):
        if bytes(blob[:4]) != MAGIC:
            raise ValueError(f"payload {i} must start with {MAGIC!r}, got {bytes(blob[:4])!r}")
    out = bytearray(LINKED_MAGIC + struct.pack(f"<I{len(blobs)}I", len(blobs), *(len(b) for b in blobs)))
    for blob in blobs:
        out += b"\0" * (-len(out) % _ALIGN) + bytes(blob)
    return bytes(out)


def unlink_payloads(blob: bytes) -> list[bytes]:
    """The payloads of a :func:`link_payloads` blob; a single payload is a list of one."""
    if bytes(blob[:4]) != LINKED_MAGIC:
        return [bytes(blob)]
    (count,) = struct.unpack_from("<I", blob, 4)
    lengths = struct.unpack_from(f"<{count}I", blob, 8)
    parts, at = [], 8 + 4 * count
    for length in lengths:
        at += -at % _ALIGN
        parts.append(bytes(blob[at:at + length]))
        at += length
    return parts
