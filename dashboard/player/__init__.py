"""The embedding player: a run's snapshots sent to the browser once, stepped and animated there.

A Streamlit (components v2) component around regl-scatterplot, bundled in ``frontend/dist/player.js``
(built by ``build.sh`` from the lockfile; committed, so users need no node). Python sends the run once
(:func:`encode_payload`); the browser owns step, play/pause/speed/loop, transitions, colouring and hover, and
reports back only a lasso selection and, when the step or the camera stops moving, the view (step, colouring,
proxies, camera). The wire format (payload, view, reports) is described once, in ``wire.json``.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import streamlit as st
from plotly.colors import sample_colorscale, unlabel_rgb

from dashboard import analysis, data, figures, projections
from dashboard.player.payload import (GRAD_COLOURS, WIRE, decode_payload, encode_payload, link_payloads,
                                      payload_header, payload_id, unlink_payloads, with_view)

BUNDLE = Path(__file__).parent / "frontend" / "dist" / "player.js"
#: the same player with its test API (state the browser tests and the benchmark read); served only when
#: PROXYLAB_PLAYER_TEST_API=1 is in the server's environment (proxylab.serve.start_dashboard(test_api=True))
TEST_BUNDLE = BUNDLE.with_name("player.test.js")
COLOURINGS = ("label", "mode", "split", "grad_norm", "nn_outcome", "proxy_outcome")
MISSING_COLOUR = "#d3d3d3"  # unknown mode, gradient not computed
#: retrieval outcomes (nearest neighbour's / most similar proxy's class): its own, another, not computed
OUTCOME_COLOURS = ["#2ca02c", "#d62728", MISSING_COLOUR]
_MODE_SHADES = (0.0, -0.35, 0.45, -0.6, 0.7)  # per mode rank: darker (<0) or lighter (>0) than its class


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{int(round(min(255, max(0, c)))):02x}" for c in rgb[:3])


def _shade(hex_colour: str, amount: float) -> str:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    target = 255.0 if amount > 0 else 0.0
    return _hex(rgb + (target - rgb) * abs(amount))


def palettes(labels: np.ndarray, modes: np.ndarray, n_classes: int) -> tuple[dict[str, list[str]], np.ndarray]:
    """Colours of each colouring and each sample's index into the "mode" palette.

    A class keeps its dashboard colour (figures.colour); a mode wears a shade of its class's colour (like that
    class's proxies), one shade per mode of the class; the gradient norm uses Viridis like the Plotly view.

    Parameters
    ----------
    labels, modes : ndarray of shape (N,)
    n_classes : int
        Number of class colours to emit (labels and proxy classes both index them).

    Returns
    -------
    palettes : dict of str to list of str
    mode_colour : ndarray of shape (N,), int
    """
    import pandas as pd

    ranks = figures.mode_ranks(pd.DataFrame({"label": labels, "mode": modes}))
    known = sorted(ranks)
    mode_palette = [MISSING_COLOUR] + [_shade(figures.colour(ranks[m][0]), _MODE_SHADES[ranks[m][1] % 5])
                                       for m in known]
    slot = {m: i + 1 for i, m in enumerate(known)}
    mode_colour = np.array([slot.get(int(m), 0) for m in modes], dtype=np.int64)
    viridis = [_hex(unlabel_rgb(c)) for c in sample_colorscale("Viridis", list(np.linspace(0, 1, GRAD_COLOURS)))]
    return {"label": [figures.colour(i) for i in range(max(n_classes, 1))], "mode": mode_palette,
            "split": [figures.colour(0), figures.colour(1)], "grad_norm": viridis + [MISSING_COLOUR],
            "nn_outcome": OUTCOME_COLOURS, "proxy_outcome": OUTCOME_COLOURS}, mode_colour


@st.cache_data(show_spinner=False, max_entries=8)
def run_payload(store: str, name: str, steps: tuple[int, ...], method: str,
                proxy_shape: tuple[int, int] | None, class_names: tuple[str, ...] | None, dims: int = 2,
                mode_links: bool = False, title: str | None = None) -> bytes:
    """The payload of every snapshot of a run in `steps`, from the page's aligned projection (cached) in `dims`
    (2, or 3 for a view the browser rotates; "native" keeps the embedding's own d).

    `mode_links` adds, per step, each ground-truth mode joined to its assigned sub-proxy (the own-class proxy most
    similar to the mode's centre in the embedding space) and whether the mode is covered (its nearest proxy is of
    its class); when the run has proxies and known modes."""
    coords = projections.coordinates(store, name, steps, method, dims, proxy_shape)
    snaps = [data.snapshot(store, name, s) for s in steps]
    first = snaps[0]
    present = np.array([coords[s][1] is not None for s in steps])  # steps whose proxies the payload shows
    proxies = nearest = links = None
    if proxy_shape is not None and present.any():
        filler = coords[steps[int(np.flatnonzero(present)[-1])]][1]  # any finite value: the browser hides it
        proxies = np.stack([coords[s][1] if ok else filler for s, ok in zip(steps, present)])
        nearest = np.zeros((len(steps), first.num_points), np.int64)  # (S, N) flat index c·K + k of the most
        for i in np.flatnonzero(present):  # similar proxy in the embedding space
            cls, sub, _ = analysis.nearest_proxy(snaps[i].embeddings, snaps[i].proxies)
            nearest[i] = cls * proxy_shape[1] + sub
        if mode_links and (first.modes >= 0).any():
            links = _mode_links(snaps, [coords[s][0] for s in steps], method == "native", present)
    outcome = np.stack([analysis.neighbour_same_class(s.embeddings, s.labels, s.split) for s in snaps])  # (S, N)
    n_classes = max(int(first.labels.max(initial=0)) + 1, proxy_shape[0] if proxy_shape else 0)
    colours, mode_colour = palettes(first.labels, first.modes, n_classes)
    return encode_payload(steps, np.stack([coords[s][0] for s in steps]), first.labels, first.modes, first.split,
                          first.index, np.stack([s.grad_norm for s in snaps]), proxies,
                          class_names=class_names, palettes=colours, mode_colour=mode_colour,
                          title=title or f"{name} ({projections.METHODS[method]})", nearest_proxy=nearest,
                          images=_thumbnails(store, name, first.num_points),
                          sphere=method == "native" and first.dim == 3, mode_links=links,
                          proxy_steps=present if proxies is not None else None,
                          neighbour_same_class=outcome if (outcome != analysis.NOT_COMPUTED).any() else None)


def _mode_links(snaps: list, drawn: list[np.ndarray], native: bool, present: np.ndarray) -> dict[str, np.ndarray]:
    """Per step, each mode's drawn centre, its assigned flat proxy index and whether it is covered (see
    :func:`analysis.mode_assignments`). A native view draws the centre where it is (the unit mean embedding); a
    projection draws it at the mean of the mode's projected samples. A step without proxies (`present` False)
    gets placeholder links the browser does not draw."""
    tables = {i: analysis.mode_assignments(s.embeddings, s.labels, s.modes, s.proxies) for i, s in enumerate(snaps)
              if present[i]}
    modes = next(iter(tables.values()))["mode"].to_numpy()
    tables = {i: t for i, t in tables.items() if np.array_equal(t["mode"].to_numpy(), modes)}
    centres, proxy, covered = [], [], []
    for i, (snap, points) in enumerate(zip(snaps, drawn)):
        table = tables.get(i)
        if native:
            where = list(table["centre"]) if table is not None else [np.zeros(points.shape[1])] * len(modes)
        else:
            where = [points[snap.modes == m].mean(axis=0) for m in modes]
        centres.append(np.stack(where) if where else np.zeros((0, points.shape[1])))
        if table is None:
            proxy.append(np.zeros(len(modes), np.int64))
            covered.append(np.zeros(len(modes), bool))
        else:
            proxy.append(table["class"].to_numpy() * snap.proxies.shape[1] + table["best_sub_proxy"].to_numpy())
            covered.append(table["covered"].to_numpy())
    return {"centres": np.stack(centres), "proxy": np.stack(proxy), "covered": np.stack(covered)}


def _thumbnails(store: str, name: str, n_points: int) -> np.ndarray | None:
    """The run's sample thumbnails when it has them for every snapshot row (image data), else None."""
    images = data.eval_images(store, name)
    return images if images is not None and len(images) == n_points else None


def drawable(store: str, name: str) -> bool:
    """Whether the player can draw run `name`: it has snapshots."""
    return bool(data.snapshot_steps(store, name))


def pane_payload(store: str, name: str, mode_links: bool = False) -> bytes:
    """Run `name`'s payload for a linked pane: every snapshot, native for d = 2 and the d = 3 sphere (rotated in
    the browser), else the run's own PCA; `mode_links` (for a run with ground-truth modes): each mode joined to its
    assigned sub-proxy and marked ✓/✗ as the Proxies page's coverage bars count it."""
    steps = tuple(data.snapshot_steps(store, name))
    snap = data.snapshot(store, name, steps[-1])
    proxy_shape = data.proxy_shape(store, name, steps)
    names = data.class_names(data.meta(store, name, data.run_stamp(Path(store), name))["meta"])
    native = snap.dim in (2, 3)
    return run_payload(store, name, steps, "native" if native else "pca", proxy_shape,
                       tuple(names) if names else None, snap.dim if native else 2, mode_links=mode_links)


@dataclass(frozen=True)
class PlayerState:
    """What the browser reported: the selection (sample ids, `selection_seq` counts selections, `selection_step` the
    step whose coordinates it tested, `selection_shape` the polygon that made it) and the view (the wire format's two
    reports, wire.json "reports")."""

    selected_ids: list[int] | None
    selection_seq: str | None
    step: int | None
    colour: str | None
    show_proxies: bool | None
    show_trajectories: bool | None = None
    selection_step: int | None = None
    #: the camera the view settled at (the lead pane's; see :func:`player`'s `camera`), to restore it later
    camera: dict[str, float] | None = None
    #: the lasso or box that made the selection, None for a click: ``{"pane": i, "kind": "lasso" | "box", "points":
    #: [[x, y], ...]}``, at most 64 integer vertices in pane i's coordinate codes; the selection is exactly that
    #: pane's samples whose codes at `selection_step` lie inside it (even-odd rule, wire.json "selection_shape")
    selection_shape: dict | None = None


#: each key of the browser's two reports (wire.json "reports") → the PlayerState field it fills
VIEW_REPORT_FIELDS = {"step": "step", "colour": "colour", "proxies": "show_proxies",
                      "trajectories": "show_trajectories", "camera": "camera"}


def _camera(camera: dict | None) -> dict[str, float] | None:
    """`camera` checked against wire.json "camera": finite numbers, x, y and a distance > 0, optionally yaw, pitch
    and roll."""
    if camera is None:
        return None
    keys = WIRE["camera"]
    required = {k for k, spec in keys.items() if spec["required"]}
    if not isinstance(camera, dict) or not required <= set(camera) <= set(keys):
        raise ValueError(f"camera must be a dict with the keys {sorted(required)} (and optionally "
                         f"{sorted(set(keys) - required)}), got {camera!r}")
    out = {}
    for key, value in camera.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"camera {key} must be a finite number, got {value!r}")
        out[key] = float(value)
    if out["distance"] <= 0:
        raise ValueError(f"camera distance must be > 0, got {out['distance']}")
    return out
SELECTION_REPORT_FIELDS = {"ids": "selected_ids", "seq": "selection_seq", "step": "selection_step",
                           "shape": "selection_shape"}


@functools.cache
def _bundle() -> str:
    bundle = TEST_BUNDLE if os.environ.get("PROXYLAB_PLAYER_TEST_API") == "1" else BUNDLE
    if not bundle.exists():
        raise FileNotFoundError(f"the player bundle {bundle} is missing: run dashboard/player/build.sh")
    return bundle.read_text(encoding="utf-8")


def _mount():
    # registered on every script run, not once per process: a Streamlit runtime (a server, an AppTest) keeps its
    # own component registry, and 1.65 forgets a component registered under another runtime
    return st.components.v2.component("proxylab_player", js=_bundle(), isolate_styles=False)


def _view_to_send(key: str, ids: list[str], wanted: dict) -> dict:
    """What goes with the payload this run: ``{"view", "known", "seq", ...}``, kept in the session per player.

    Streamlit sends an element whose bytes did not change as a reference to the copy the browser already holds
    (its message cache), so a payload travels once only if its bytes stay the same. Once the browser shows a
    payload it owns the view (step, colouring, toggles), so the view sent with it is kept byte for byte while the
    page stays open: reruns caused by the player itself (a step it stopped on, a lasso) send a reference of a few
    bytes instead of the whole run again. The view changes only on a new payload, a page opened anew (a new
    mount: it starts where the page wants), or a selection Python changed (cleared, from a link): `known` is the
    selection the browser holds, as Python last heard or set it.
    """
    memory = st.session_state.setdefault("_player_sent", {})
    visit = st.session_state.get("_page_visit", 0)
    sent = memory.get(key)
    if sent is None or sent["ids"] != ids or sent["visit"] != visit:
        sent = memory[key] = {"ids": ids, "visit": visit, "view": {**wanted, "selected_rev": 0},
                              "known": wanted["selected"], "seq": None}
    elif wanted["selected"] != sent["known"]:  # `selected_rev` tells the browser it is new, even if equal to the last
        view = sent["view"]
        sent.update(view={**view, "selected": wanted["selected"], "selected_rev": view["selected_rev"] + 1},
                    known=wanted["selected"])
    return sent


CONTROLS = ("all", "play")


def player(payload: bytes | Sequence[bytes], *, key: str, step: int | None = None, colour: str = "label",
           show_proxies: bool = True, show_trajectories: bool = False, show_links: bool = True,
           selected_ids: Sequence[int] = (), height: int = 560, controls: str = "all",
           font_px: int | None = None, point_px: int | None = None, proxy_px: int | None = None,
           camera: dict | None = None) -> PlayerState:
    """Mount the player on `payload` (from :func:`encode_payload`) and return what the browser reported.

    A list of payloads gives linked panes side by side (two runs, or two projections of one): one step control
    (the first payload's steps; every other pane shows its last step at or before it), one camera, one lasso
    selection (by sample id) and one colouring for all.

    `step`, `colour`, `show_proxies`, `show_trajectories` (each proxy's path over the steps) and `show_links` (each
    mode joined to its assigned proxy, marked ✓/✗, for payloads that carry mode links) set the view when the player
    first shows this payload; after that the browser owns them. `selected_ids` is applied whenever it changes on
    the Python side (a cleared selection, a shared link).

    `controls` is "all" or "play" (play, step and speed only: a stripped-down lesson). `font_px`, `point_px` (the
    samples' marker size, at least) and `proxy_px` size the player for a lecture room (presenter mode); None keeps
    the defaults (14 px type, markers sized by the number of points).

    `camera` (what :class:`PlayerState` ``camera`` reported: ``{"x", "y", "distance"}``, and ``"yaw"``, ``"pitch"``,
    ``"roll"`` for a 3-D view) starts the player there instead of fitting the camera, like `step` when the player
    first shows the payload; None fits it.
    """
    if colour not in COLOURINGS:
        raise ValueError(f"colour must be one of {COLOURINGS}, got {colour!r}")
    if controls not in CONTROLS:
        raise ValueError(f"controls must be one of {CONTROLS}, got {controls!r}")
    for name, value in (("height", height), ("font_px", font_px), ("point_px", point_px), ("proxy_px", proxy_px)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    view = {"step": step, "colour": colour, "proxies": bool(show_proxies), "trajectories": bool(show_trajectories),
            "links": bool(show_links), "selected": [int(i) for i in selected_ids], "height": int(height),
            "controls": controls, "font_px": font_px, "point_px": point_px, "proxy_px": proxy_px,
            "camera": _camera(camera)}
    blobs = [payload] if isinstance(payload, (bytes, bytearray, memoryview)) else list(payload)
    if not blobs:
        raise ValueError("player needs a payload, got an empty list")
    sent = _view_to_send(key, [payload_id(b) for b in blobs], view)
    blobs[0] = with_view(blobs[0], sent["view"])
    result = _mount()(key=key, data=blobs[0] if len(blobs) == 1 else link_payloads(blobs), default={"selection": None, "view": None},
                      on_selection_change=lambda: None, on_view_change=lambda: None)
    selection = result.get("selection") or {}
    if selection.get("seq") is not None and selection.get("seq") != sent["seq"]:  # a lasso: the browser knows it
        sent.update(seq=selection["seq"], known=[int(i) for i in selection.get("ids") or []])
    shown = result.get("view") or {}
    return PlayerState(**{field: selection.get(key) for key, field in SELECTION_REPORT_FIELDS.items()},
                       **{field: shown.get(key) for key, field in VIEW_REPORT_FIELDS.items()})


__all__ = ["encode_payload", "decode_payload", "payload_header", "link_payloads", "unlink_payloads", "with_view",
           "player", "run_payload", "pane_payload", "drawable", "palettes", "PlayerState"]
