"""Render ``BENCHMARKS.md`` from ``<out>/<suite>.json`` (numbers only come from the JSON) plus the hand-written
analysis in ``bench/notes.md`` (embedded verbatim)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from . import SUITES
from .common import REPO, fit_exponent

NOTES = REPO / "bench" / "notes.md"


def _load(out: Path) -> dict[str, dict]:
    docs = {}
    for s in SUITES:
        p = out / f"{s}.json"
        if p.exists():
            docs[s] = json.loads(p.read_text())
    return docs


def _f(v, digits=2, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and v != v:
        return "NaN"
    return f"{v:.{digits}f}{unit}"


def _s(v):
    """Seconds with a precision that suits their size."""
    if v is None:
        return "–"
    return f"{v:.3f}" if v < 1 else f"{v:.1f}"


def _mb(b):
    return "–" if b is None else f"{b / 2**20:.0f}"


def _ok(flag: bool | None) -> str:
    return "–" if flag is None else ("**met**" if flag else "**missed**")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _provenance(doc: dict) -> str:
    m, v = doc["machine"], doc["versions"]
    vers = ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "numpy", "pytorch_metric_learning", "umap", "numba",
                                             "sklearn", "streamlit", "plotly", "playwright", "faiss") if k in v)
    return (f"`{doc['command']}` — {doc['started']} → {doc['finished']} ({_f(doc.get('suite_wall_s'), 0)} s"
            f"{', quick' if doc.get('quick') else ''}); load average (1/5/15 min) at start "
            f"{doc['load_average_start']}, at end {doc['load_average_end']}; {m['cpu_model']}, "
            f"{m['logical_cores']} logical cores, torch threads {m['torch_threads']}, {m['memory_gib']} GiB, "
            f"device **{m['device']}**{' (' + m['gpu'] + ')' if m.get('gpu') else ''}. Versions: {vers}."
            + (f" Code: git {doc['source'].get('git_head')}"
               f"{' + uncommitted changes' if doc['source'].get('uncommitted_changes_in_measured_code') else ''}, "
               f"sources sha1 {doc['source'].get('sources_sha1')}." if doc.get("source") else ""))


# -- sections -----------------------------------------------------------------------------------------
def _losses(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    rows, fam = [], []
    worst, over = 0.0, []
    for r in doc["rows"]:
        cells = [r["B"], r["d"], r["C"], r["K"]]
        for name in ("proxy_nca", "proxy_anchor", "soft_triple"):
            p = r["pairs"][name]
            mark = "" if p["same_function"] else "†"
            cells += [f"{_f(p['ours_ms'])} / {_f(p['pml_ms'])}", f"{_f(p['ratio'])}{mark}"]
            if p["same_function"]:
                worst = max(worst, p["ratio"])
                if p["ratio"] > 1.0:
                    over.append(f"{name} B={r['B']} d={r['d']} C={r['C']} K={r['K']}: {p['ratio']:.2f}")
        rows.append(cells)
        f = r["family"]
        fam.append([r["B"], r["d"], r["C"], r["K"], _f(r["pairs"]["proxy_anchor"]["ours_ms"])]
                   + [_f(f[k]["vs_proxy_anchor"]) for k in ("mpa", "mpa_dw", "mpa_pw", "proxy_anchor+so", "mpa+so")])
    n_same = sum(1 for r in doc["rows"] for p in r["pairs"].values() if p["same_function"])
    summary.append(["Losses: proxylab / PML time, forward + backward (same function)", "≤ 1.0 everywhere",
                    f"worst {worst:.2f}; {len(over)} of {n_same} pairs above 1.0", _ok(not over)])
    diffs = max(p["abs_loss_diff"] for r in doc["rows"] for p in r["pairs"].values() if p["same_function"])
    fam_all = {k: [r["family"][k]["vs_proxy_anchor"] for r in doc["rows"]]
               for k in ("mpa", "mpa_dw", "mpa_pw", "proxy_anchor+so", "mpa+so")}
    fam_k4 = {k: [r["family"][k]["vs_proxy_anchor"] for r in doc["rows"] if r["K"] > 1] for k in fam_all}
    text = [
        f"Median time of one forward + backward in ms (proxylab / PML) and the ratio proxylab ÷ PML "
        f"(median over {doc['config']['rounds']} interleaved rounds of `blocked_autorange(min_run_time="
        f"{doc['config']['min_run_time']})`). Proxies copied from proxylab into PML; the largest |loss difference| "
        f"over the same-function pairs is {diffs:.1e}. † = not the same function (PML has no sub-proxies for "
        "Proxy Anchor: the reference is PML on C·K proxies, the same matrix sizes), left out of the target.",
        "",
        _table(["B", "d", "C", "K", "ProxyNCA ms", "ratio", "ProxyAnchor ms", "ratio", "SoftTriple ms", "ratio"], rows),
        "",
        ("Pairs above 1.0: " + "; ".join(over) + ".") if over else "No same-function pair above 1.0.",
        "",
        f"**MPA family and SO, relative to proxylab's Proxy Anchor with the same (B, d, C, K)** (SO weight "
        f"{doc['so_weight']}, scope all): time ÷ Proxy Anchor time.",
        "",
        _table(["B", "d", "C", "K", "Proxy Anchor ms", "mpa", "mpa_dw", "mpa_pw", "PA + SO", "mpa + SO"], fam),
        "",
        "Median of those ratios over all configurations / over K = 4 only: " + "; ".join(
            f"{k} {statistics.median(v):.2f} / {statistics.median(fam_k4[k]):.2f}" if fam_k4[k] else
            f"{k} {statistics.median(v):.2f}" for k, v in fam_all.items()) + ".",
    ]
    return "\n".join(text)


def _metrics(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    rows = []
    over, nxn_ok = [], True
    for r in doc["rows"]:
        c = r["cases"]
        get = lambda k, f="median_s": c.get(k, {}).get(f)  # noqa: E731
        rows.append([f"{r['N']:,}", r["classes"], _f(get("ours"), 3), _f(get("pml"), 3), _f(r.get("ratio_vs_pml")),
                     _f(get("pml_full"), 3) if "pml_full" in c else "not run", _f(r.get("ratio_vs_pml_full")),
                     _f(get("matmul"), 3), _f(r.get("ratio_vs_matmul")),
                     _mb(get("ours", "peak_delta_bytes")), _mb(get("pml", "peak_delta_bytes")),
                     _mb(get("pml_full", "peak_delta_bytes")) if "pml_full" in c else "–",
                     _mb(4 * r["N"] ** 2), _f(r.get("max_abs_value_diff"), 1) if r.get("max_abs_value_diff") is None
                     else f"{r['max_abs_value_diff']:.0e}"])
        if r.get("ratio_vs_pml") is not None and r["ratio_vs_pml"] > 1.0:
            over.append(f"N={r['N']:,}: {r['ratio_vs_pml']:.2f}")
        peak = get("ours", "peak_delta_bytes")
        if peak is not None and 4 * r["N"] ** 2 > 2 * 256 * 2**20 and peak >= 4 * r["N"] ** 2:
            nxn_ok = False
    big = [r for r in doc["rows"] if 4 * r["N"] ** 2 > 2 * 256 * 2**20]
    knn = next((r["cases"]["pml"].get("knn") for r in doc["rows"] if "knn" in r["cases"].get("pml", {})), None)
    summary.append(["Metrics: proxylab / PML AccuracyCalculator time", "≤ 1.0",
                    "; ".join(f"N={r['N']:,}: {_f(r.get('ratio_vs_pml'))}" for r in doc["rows"]), _ok(not over)])
    if big:
        summary.append(["Metrics: no N×N allocation", "peak < N²·4 bytes",
                        "; ".join(f"N={r['N']:,}: peak {_mb(r['cases']['ours'].get('peak_delta_bytes'))} MB vs "
                                  f"N² {_mb(4 * r['N'] ** 2)} MB" for r in big), _ok(nxn_ok)])
    ex = doc.get("time_exponent_in_N", {})
    text = [
        f"precision_at_1, r_precision and mean_average_precision_at_r on N points in d = {doc['config']['d']} "
        f"({doc['config']['per_class']} per class, so MAP@R looks {doc['config']['per_class'] - 1} deep), "
        "query excluded. Every case ran in a fresh subprocess; time = median of the repeated calls after the "
        f"first, over {doc['config']['rounds']} round(s) alternating the implementations "
        f"(rounds per N where different: {doc['config'].get('rounds_by_N') or 'none'}); peak = highest RSS "
        "during the first call minus RSS before it. PML k-NN (batch size = proxylab's rows per chunk at that N, "
        "i.e. the same memory budget): " + (knn or "–").replace(f"batch_size={doc['rows'][0]['cases'].get('pml', {}).get('chunk_rows')}", "batch_size=b") + "; *PML full* is "
        "PML's unbatched `CustomKNN(CosineSimilarity())` (one N×N matrix, run only up to "
        "20k). *matmul* = the lower bound: the N×N×d similarity product alone, in proxylab's chunks.",
        "",
        _table(["N", "classes", "proxylab s", "PML s", "ratio", "PML full s", "ratio", "matmul s", "÷ matmul",
                "proxylab peak MB", "PML peak MB", "PML full peak MB", "N×N float32 MB", "max |Δ value|"], rows),
        "",
        f"Fitted time exponent in N (t ∝ N^a): proxylab {_f(ex.get('ours'))}, PML {_f(ex.get('pml'))}, "
        f"matmul {_f(ex.get('matmul'))}.",
    ]
    large = doc.get("large")
    if large and "error" not in large:
        v = large["values"]
        text += ["", f"*Large*: proxylab alone at N = {large['N']:,} × d = {large['d']} ({large['classes']:,} "
                 f"SOP-like classes, deepest R = {large['max_R']:,}, ks {large['ks']}): {_f(large['seconds'], 0)} s on "
                 f"{large['threads']} thread(s), peak RSS of the whole process {_mb(large['maxrss_bytes'])} MB "
                 f"(target < 4,096 MB; the call itself added {_mb(large['peak_delta_bytes'])} MB); "
                 f"R@1 {_f(v['R@1'], 3)}, MAP@R {_f(v['MAP@R'], 3)}."]
        summary.append(["Metrics: N = 450,000 × 128 peak RSS", "< 4,096 MB", f"{_mb(large['maxrss_bytes'])} MB",
                        _ok(large["maxrss_bytes"] < 4 * 2**30)])
    elif large:
        text += ["", f"*Large*: not measured: {large['error']}"]
    return "\n".join(text)


def _training(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    rows, runs, ab_rows = [], [], []
    missed = []
    for r in doc["rows"]:
        lp, rn = r["loop"], r["run"]
        rows.append([r["preset"], r["loss"], r["K"], r["batch"], _f(lp["full_ms_per_step"]),
                     _f(lp["light_ms_per_step"]), _f(lp["full_steps_per_s"], 0), _f(lp["light_steps_per_s"], 0),
                     _f(lp["full_samples_per_s"], 0), _f(lp["light_samples_per_s"], 0),
                     f"{lp['overhead_percent']:+.1f} %", f"{lp['paired_overhead_percent']:+.1f} %"])
        runs.append([r["preset"], r["run_steps"], _f(rn["full_ms_per_step"]), _f(rn["light_ms_per_step"]),
                     _f(rn["full_steps_per_s"], 0), _f(rn["light_steps_per_s"], 0), f"{rn['overhead_percent']:+.1f} %"])
        ab = r["ab"]
        ab_rows.append([r["preset"], _f(ab["full_ms_per_step"]), _f(ab["light_ms_per_step"]),
                        f"{ab['overhead_percent']:+.1f} %", f"{ab['paired_overhead_percent']:+.1f} %"])
        if ab["overhead_percent"] > doc["target_percent"]:
            missed.append(f"{r['preset']} {ab['overhead_percent']:+.0f} %")
    summary.append(["Training: full-logging overhead per step (A/B blocks)", f"≤ {doc['target_percent']:.0f} %",
                    "; ".join(f"{r['preset']} {r['ab']['overhead_percent']:+.0f} %" for r in doc["rows"]),
                    _ok(not missed)])
    cfg = doc["config"]
    prof = doc.get("profile") or {}
    prof_rows = [[f"`{p['function']}`", p["calls"], _f(1e3 * p["cumtime_s"] / prof["steps"], 3),
                  _f(1e3 * p["tottime_s"] / prof["steps"], 3)] for p in prof.get("top_cumulative", [])[:22]]
    ab0 = doc["rows"][0]["ab"]
    text = [
        "CPU, demo presets (batch = 6 classes × 16 samples, linear embedder to d = 8, synthetic data).",
        "",
        f"**Logging overhead** (the target): *A/B blocks* — one Trainer per preset switched between full and light "
        f"logging every {ab0['block_steps']} steps, {ab0['blocks']} timed blocks per mode, alternating which goes "
        "first; each block's time includes its store writes and the computation of its statistics "
        "(`StepStats`, batched over the block). Overhead = (median full − median light) / median light; "
        "*paired* = median of the per-pair overheads.",
        "",
        _table(["preset", "full ms/step", "light ms/step", "overhead", "paired"], ab_rows),
        "",
        f"**Throughput** — *step loop*: "
        f"{cfg['loop_steps']} steps after {cfg['warmup']} warm-up steps of batch + `train_step` + store writes, "
        f"fresh Trainer per measurement, {cfg['rounds']} rounds alternating full / light; medians over rounds. "
        "Overhead = (full − light) / light; *paired* = median of the per-round overheads.",
        "",
        _table(["preset", "loss", "K", "batch", "full ms/step", "light ms/step", "full steps/s", "light steps/s",
                "full samples/s", "light samples/s", "overhead", "paired"], rows),
        "",
        "`Trainer.run()` end to end (also evaluation every 50 steps, snapshots — with per-sample gradient norms "
        "under full logging — and checkpoints), per step:",
        "",
        _table(["preset", "steps", "full ms/step", "light ms/step", "full steps/s", "light steps/s", "overhead"], runs),
    ]
    if prof.get("components"):
        comp = [[k, _f(v["cum_ms_per_step"], 3), _f(v["calls_per_step"], 1)] for k, v in prof["components"].items()]
        text += ["", f"Where the full-logging extra goes (cProfile, `{prof['preset']}`, {prof['steps']} steps): "
                     f"{_f(prof['per_step_ms'])} ms/step with full logging vs {_f(prof.get('light_per_step_ms'))} "
                     "ms/step light, both under the profiler (which inflates small Python calls). Cumulative ms per "
                     "step of each logging component:", "",
                 _table(["component", "ms/step", "calls/step"], comp)]
    if prof_rows:
        text += ["", f"cProfile of {prof['steps']} full-logging steps of `{prof['preset']}` "
                     f"({_f(prof['per_step_ms'])} ms/step under the profiler), by cumulative time, ms per step:", "",
                 _table(["function", "calls", "cum ms/step", "own ms/step"], prof_rows)]
    return "\n".join(text)


def _own_runs(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    cfg, imp = doc["config"], doc["import"]
    target = doc["overhead_target_percent"]
    rows = [[r["loss"], _f(r["plain_ms_per_step"]), _f(r["logged_ms_per_step"]), f"{r['overhead_percent']:+.1f} %",
             f"{r['paired_overhead_percent']:+.1f} %", f"{_f(r['snapshot_ms'], 0)} ms"] for r in doc["loops"]]
    for r in doc["loops"]:  # the README's loop is the first (ProxyAnchorLoss); each loss is judged on its own
        summary.append([f"Logging a loop of your own: overhead per step, digits MLP + {r['loss']} (A/B blocks)",
                        f"≤ {target:.0f} %", f"{r['overhead_percent']:+.1f} %", _ok(r["overhead_percent"] <= target)])
    summary.append([f"Import → playable, {imp['points']:,} × {imp['dim']} × {imp['steps']} steps, ÷ reading and "
                    "writing the arrays alone", f"≤ {doc['import_target_ratio']:.0f}×", f"{imp['ratio']:.2f}×",
                    _ok(imp["ratio"] <= doc["import_target_ratio"])])
    return "\n".join([
        "**Logging a loop of your own** (`proxylab.tracking.RunLogger`): the README's loop — sklearn's digits, MLP "
        "64 → 128 → 32, batch 128, Adam, CPU — in one process, switched between the plain loop (`loss.backward()`) "
        f"and the logged one (`run.backward(...)`: group, proxy and per-sample gradient norms, their statistics a "
        f"window at a time, the store's writes) every {cfg['block_steps']} steps, {cfg['blocks']} timed blocks per "
        "mode, alternating which goes first. Overhead = (median logged − median plain) / median plain; *paired* = "
        "median of the per-pair overheads. A snapshot (all 1,797 digits embedded, proxies, per-sample gradients of "
        "the training points, retrieval metrics) is periodic work, timed on its own (median of "
        f"{cfg['snapshots']}).",
        "",
        _table(["loss", "plain ms/step", "logged ms/step", "overhead", "paired", "one snapshot"], rows),
        "",
        f"**Import → playable**: `read_embeddings` + `import_run` of {imp['steps']} `.npz` files of "
        f"{imp['points']:,} × {imp['dim']} float32 ({_f(imp['file_mb'], 0)} MB in all) until every snapshot is on "
        "disk and the run plays in the dashboard (its exact metrics follow, last step first, each committed when "
        "done), against `np.load` of the same files and `np.savez` of their arrays alone; medians of "
        f"{len(imp['first_frame_rounds_s'])} interleaved rounds: {_s(imp['first_frame_s'])} s vs "
        f"{_s(imp['read_write_s'])} s = **{imp['ratio']:.2f}×**. (Drawing the first frame then takes the player's "
        "payload time, section 5.)",
    ])


def _selection(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    cfg, inp, web = doc["config"], doc["in_process"], doc["browser"]
    target = doc["target_ms"]
    rows = [[f"{r['size']:,}", _f(r["rows_ms"], 1), _f(r["direct_ms"], 0) if r["direct_ms"] else "–",
             f"{r['direct_ms'] / r['rows_ms']:.0f}×" if r["direct_ms"] else "–",
             f"{r['largest_difference']:.1e}" if r["largest_difference"] is not None else "–"]
            for r in inp["selections"]]
    largest = max(r["rows_ms"] for r in inp["selections"])
    summary.append([f"Selection metrics (R@1, MAP@R, mode coverage) at {cfg['n']:,} × {cfg['d']}: any selection, "
                    "from the per-query rows", f"≤ {target:.0f} ms", f"{largest:.0f} ms (largest selection)",
                    _ok(largest <= target)])
    highlight = statistics.median(web["highlight_ms"])
    summary.append([f"… in the browser: a box drawn on the player until its scores show ({cfg['n']:,} × {cfg['d']})",
                    f"≤ {target:.0f} ms", f"{1e3 * web['median_s']:.0f} ms (median of {len(web['seconds'])}; the "
                    f"player's own redraw of the selection: {highlight:.0f} ms)", _ok(1e3 * web["median_s"] <= target)])
    return "\n".join([
        f"A run of {cfg['n']:,} points × {cfg['d']} (12 classes × 3 modes, proxies, half train / half test). "
        f"*Per-query values* (every sample scored once as a query of its split, what the Embedding page computes in "
        f"the background when it shows a step): {_f(inp['per_query_s'], 1)} s, once per step; read back from the "
        f"run's cache in {_f(inp['read_cache_ms'], 0)} ms. A selection (lasso-like: the samples nearest a point of "
        "the PCA view) is then scored from the rows, against scoring its queries directly (each against its whole "
        f"split: what `proxylab eval --queries` computes); medians of {cfg['repeats']}.",
        "",
        _table(["selected", "from rows ms", "direct ms", "direct ÷ rows", "largest difference"], rows),
        "",
        "In the browser (the Embedding page's player, PCA, a box drawn with the mouse; the page's own clock, from the "
        f"mouse-up): the scores on the page after {', '.join(f'{1e3 * t:.0f}' for t in web['seconds'])} ms for "
        f"{', '.join(f'{n:,}' for n in web['selected'])} selected samples; the player's own first frame with the "
        f"selection highlighted (no Python involved) after {', '.join(f'{t:.0f}' for t in web['highlight_ms'])} ms.",
    ])


def _player_floor(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    target, auto = doc["target_ratio"], doc["autoplay"]
    rows = []
    for size in doc["sizes"]:
        for gesture in ("pan", "zoom"):
            g = size[gesture]
            rows.append([f"{size['N']:,}", gesture, _f(g["player_frame_ms"], 0), _f(g["floor_frame_ms"], 0),
                         f"{g['ratio']:.2f}×"])
            doing = {"pan": "panning", "zoom": "zooming"}[gesture]
            summary.append([f"Player frame time while {doing} ÷ bare regl-scatterplot, {size['N']:,} points",
                            f"≤ {target:.1f}×", f"{g['ratio']:.2f}×", _ok(g["ratio"] <= target)])
    summary.append([f"Player autoplay at {auto['points']:,} points × {auto['snapshots']} steps", "measured",
                    f"{auto['steps_per_s']:.1f} steps/s", "measured"])
    return "\n".join([
        "The player's frame time against a page of regl-scatterplot alone (`bench/player_floor`): same points (the "
        "run's PCA, filling the view), same canvas size, options and marker size, same browser, same gestures (pan: "
        "button held, circling; zoom: wheel in and out) for the same time; every `draw` event counted, frame time = "
        f"1 / frames per second; medians over {doc['config']['rounds']} alternating rounds. Software WebGL "
        "(SwiftShader): the ratio is the point, not the absolute rates.",
        "",
        _table(["points", "gesture", "player ms/frame", "bare ms/frame", "ratio"], rows),
        "",
        f"**Autoplay** at {auto['points']:,} points × {auto['snapshots']} snapshots (payload "
        f"{_mb(auto['payload_bytes'])} MB): first draw {_f(auto['first_draw_s'], 1)} s after page load; at the fastest "
        f"speed {auto['steps_per_s']:.1f} steps/s, {auto['frames_per_s']:.1f} frames/s (median of "
        f"{len(auto['plays'])} plays); same canvas: {'yes' if auto['same_canvas'] else 'no'}; page errors: "
        f"{len(auto['page_errors'])}.",
    ])


def _projection(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    rows = []
    for r in doc["rows"]:
        for label, c in r["cases"].items():
            if "error" in c:
                rows.append([f"{r['N']:,}", label, c["error"][:80], "", "", "", "", ""])
                continue
            rows.append([f"{r['N']:,}", label, c.get("steps"), _f(c.get("import_umap_s"), 1),
                         _s(c.get("first_s")), _s(c.get("warm_s")),
                         _f(1e3 * c["cache_hit_s"], 1) if c.get("cache_hit_s") is not None else "–",
                         _f(1e3 * c["cache_hit_fresh_process_s"], 1)
                         if c.get("cache_hit_fresh_process_s") is not None else "–"])
    ex = doc.get("time_exponent_in_N", {})
    text = [
        f"Snapshots of a real `{doc['config']['preset']}` demo run (10 snapshots, d = 8, 6 × 3 modes, 24 proxies) "
        "trained with the given number of snapshot points. *first* = first `project_run` in a fresh process "
        "(after `import umap`, timed separately); the first UMAP row of the suite ran with an empty numba cache "
        "(everything compiled: what a user waits the very first time); later rows find numba's on-disk cache. "
        "*warm* = the same call again in the same process. *cache hit* = `project_run` reading the cached "
        "result (in the process that wrote it / in a fresh process).",
        "",
        _table(["points / snapshot", "method", "snapshots", "import umap s", "first s", "warm s", "cache hit ms",
                "cache hit, fresh process ms"], rows),
        "",
        "Fitted time exponent of *first* in N: " + ", ".join(f"{k} {_f(v)}" for k, v in ex.items()) + ".",
    ]
    return "\n".join(text)


def _umap_start(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    cases, cfg = doc["cases"], doc["config"]
    rows, first = [], {}
    for side in cfg["sides"]:
        for when in ("cold", "second_process"):
            c = cases.get(f"{side} {when}", {"error": "missing"})
            if "error" in c:
                rows.append([side, when.replace("_", " "), c["error"][:80], "", "", ""])
                continue
            first[side, when] = c["first_s"]
            rows.append([side, when.replace("_", " "), f"{c['points']:,} × {c['dim']}", _f(c["import_umap_s"], 1),
                         _s(c["first_s"]), _s(c["warm_s"])])
    ratios = [f"{when.replace('_', ' ')} {_f(first['proxylab', when] / first['plain', when])}"
              for when in ("cold", "second_process") if ("plain", when) in first and ("proxylab", when) in first]
    return "\n".join([
        f"The same points on both sides: every snapshot of a `{cfg['preset']}` demo run stacked "
        f"({cfg['points_per_snapshot']} points per snapshot), fitted by plain umap-learn (`{cfg['plain']}`) and by "
        f"proxylab's default UMAP (`{cfg['proxylab']}`, which fits the same stacked rows and returns them per step). "
        "Each row is a fresh process; numba's cache directory is emptied before each side's *cold* process, so "
        "*cold* is the very first time after installing and *second process* every later process (a dashboard "
        "server, a projection job, a CLI call). *first* = the first fit in the process (numba compiles or loads "
        "here), *warm* = the same fit again in that process.",
        "",
        _table(["side", "process", "points", "import umap s", "first fit s", "warm fit s"], rows),
        "",
        "proxylab ÷ plain umap-learn, first fit: " + (", ".join(ratios) if ratios else "–") + ".",
    ])


def _dashboard(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    rows = []
    for r in doc["rows"]:
        slides = r.get("slider_redraw_s")
        rows.append([f"{r['N']:,} ({r['run']})", r.get("points_drawn"), r["snapshots"], _f(r.get("server_startup_s")),
                     _f(r.get("first_chart_cold_server_s")), _f(r.get("first_chart_warm_median_s")),
                     _f(r.get("first_chart_browser_cache_median_s")), _f(r.get("slider_redraw_median_s")),
                     f"{_f(min(slides))}–{_f(max(slides))}" if slides else "–",
                     _mb(r.get("rss_idle_bytes")), _mb(r.get("rss_after_first_chart_bytes")),
                     _mb(r.get("rss_after_slider_bytes")), r.get("exceptions_on_page")])
    demo = next((r for r in doc["rows"] if r.get("demo")), None)
    five_k = next((r for r in doc["rows"] if r["N"] == 5000 and not r.get("demo")), None)
    for r, what in ((demo, f"a cached demo run ({demo and demo['run']})"), (five_k, "a cached 5,000-point run")):
        if r is None or r.get("first_chart_warm_median_s") is None:
            continue
        fresh, cached = r["first_chart_warm_median_s"], r.get("first_chart_browser_cache_median_s")
        status = _ok(fresh <= 3.0)
        if fresh > 3.0 and cached is not None and cached <= 3.0:
            status = "**met** for a returning browser, **missed** for a fresh one"
        summary.append([f"Dashboard (Plotly view): first chart on {what}", "≤ 3 s",
                        f"fresh browser {_f(fresh)} s; browser cache {_f(cached)} s", status])
    if five_k is not None and five_k.get("slider_redraw_median_s") is not None:
        summary.append(["Dashboard (Plotly view): step-slider redraw (5,000 points)", "≤ 0.5 s",
                        f"{_f(five_k['slider_redraw_median_s'])} s (median)",
                        _ok(five_k["slider_redraw_median_s"] <= 0.5)])
    cfg = doc["config"]
    text = [
        f"Headless Chromium via Playwright ({' '.join(doc['chromium_args'])}), viewport 1400×1000, Embedding page, "
        f"PCA cached. One fresh `streamlit run` server per size; first chart (cold server) = first page load after "
        f"start; fresh browser = median of {cfg['loads']} more loads, each in a new browser profile (empty HTTP "
        f"cache: Streamlit's and Plotly's scripts fetched and compiled every time); browser cache = median of "
        f"{cfg['loads']} loads in new pages of one profile that opened the page before (a returning visitor); "
        f"slider = median of {cfg['slides']} alternating Home/End presses on the step slider until the chart title "
        f"shows the new step. The page draws at most {doc['max_points_drawn']:,} points (server-side subsampling "
        f"above). Software rendering: WebGL runs on SwiftShader (on the CPU); a user's GPU draws faster.",
        "",
        _table(["points", "drawn", "snapshots", "server start s", "first chart, cold server s",
                "first chart, fresh browser s", "first chart, browser cache s", "slider redraw s", "slider range s",
                "RSS idle MB", "RSS after first chart MB", "RSS after slider MB", "exception boxes"], rows),
    ]
    text += _player(doc, summary)
    return "\n".join(text)


def _no_gpu_process(r: dict) -> list[str]:
    other = r.get("no_gpu_process")
    if not other:
        return ["–", "–", "–"]
    first, plotly = other["player_step_first_frame_median_s"], other["slider_redraw_median_s"]
    return [_s(first), _f(plotly), _f(first / plotly if plotly else None, 3)]


def _player(doc: dict, summary: list) -> list[str]:
    """The embedding player on the same servers and runs as the Plotly rows above, and its autoplay run."""
    rows = []
    for r in doc["rows"]:
        pl = r.get("player")
        if not pl:
            continue
        plotly_step = r.get("slider_redraw_median_s")
        ratio = pl["step_first_frame_median_s"] / plotly_step if plotly_step else None
        rows.append([f"{r['N']:,} ({r['run']})", f"{pl['points']:,}", f"{_mb(pl['payload_bytes'])} MB" if pl["payload_bytes"]
                     > 2**20 else f"{pl['payload_bytes'] / 1024:.0f} kB", _f(pl["first_draw_fresh_browser_median_s"]),
                     _s(pl["data_to_first_frame_median_s"]), _s(pl["step_first_frame_median_s"]),
                     _s(pl["step_settled_median_s"]), _f(plotly_step), _f(ratio, 3), *_no_gpu_process(r),
                     "yes" if pl["same_canvas"] else "**no**", pl["webgl_contexts"], len(pl["page_errors"])])
        if not r.get("demo") and ratio is not None:
            other = r.get("no_gpu_process") or {}
            other_ratio = (other["player_step_first_frame_median_s"] / other["slider_redraw_median_s"]
                           if other.get("slider_redraw_median_s") else None)
            worst = max(ratio, other_ratio if other_ratio is not None else ratio)
            summary.append([f"Player: step change → redrawn vs the Plotly path ({r['N']:,} points)", "≤ 1/10",
                            f"{_s(pl['step_first_frame_median_s'])} s vs {_f(plotly_step)} s: {_f(ratio, 3)}"
                            + (f"; no GPU process: {_f(other_ratio, 3)}" if other_ratio is not None else ""),
                            _ok(worst <= 0.1)])
    if not rows:
        return []
    text = ["", "**The embedding player** (the page's default 2-D view), same server, run and browser flags: first "
            "draw = page load in a fresh browser profile until the player has drawn (median of "
            f"{doc['config']['loads']}); data → first frame = in the page, from the payload's arrival (decoding "
            "included) to its first frame; step change = Home/End on the player's step slider until the first frame "
            "at the new step (the player's clock; no Python rerun), and until its 250 ms transition settled. Ratio = "
            "player first frame ÷ Plotly slider redraw above. The last step columns repeat both step changes in a "
            f"browser without a GPU process ({' '.join(doc.get('chromium_args_no_gpu_process', []))}: WebGL on "
            "SwiftShader inside the renderer), the other software path a headless machine may take. WebGL contexts "
            "= contexts the page created (`getContext` wrapped before any script runs).", "",
            _table(["points", "drawn", "payload", "first draw, fresh browser s", "data → first frame s",
                    "step → first frame s", "step → settled s", "Plotly slider s", "ratio",
                    "no GPU process: player first frame s", "Plotly slider s", "ratio", "same canvas",
                    "WebGL contexts", "page errors"], rows)]
    a = doc.get("autoplay")
    if a and "steps_per_s" in a:
        ok = a["steps_per_s"] >= 10 and a["same_canvas"] and a["webgl_contexts_after"] == a["webgl_contexts_before"]
        summary.append([f"Player: autoplay at {a['points']:,} points × {a['snapshots']} snapshots", "≥ 10 steps/s, "
                        "same canvas and context", f"{_f(a['steps_per_s'], 1)} steps/s, {_f(a['frames_per_s'], 0)} "
                        f"frames/s; same canvas: {'yes' if a['same_canvas'] else 'no'}; contexts "
                        f"{a['webgl_contexts_before']} → {a['webgl_contexts_after']}", _ok(ok)])
        text += ["", f"**Autoplay** on `{a['run']}` ({a['points']:,} points, {a['snapshots']} snapshots, payload "
                 f"{_mb(a['payload_bytes'])} MB): first draw {_f(a['first_draw_s'])} s after page load "
                 f"(data → first frame {_s(a['data_to_first_frame_s'])} s); played at the fastest speed "
                 f"({a['speed']:g}×, one step every {_f(a['period_ms'], 0)} ms asked) for {_f(a['played_s'], 1)} s"
                 + (f", the median of {len(a['plays'])} plays (each: " + ", ".join(
                     _f(play["steps_per_s"], 1) for play in a["plays"]) + " steps/s)" if a.get("plays") else "") +
                 f": {a['steps_drawn']} steps drawn = **{_f(a['steps_per_s'], 1)} steps/s**, {_f(a['frames_per_s'], 0)} "
                 f"frames/s (transition frames included); the canvas element stayed the same: "
                 f"{'yes' if a['same_canvas'] else '**no**'}; WebGL contexts before / after playing: "
                 f"{a['webgl_contexts_before']} / {a['webgl_contexts_after']}; page errors: {len(a['page_errors'])}."]
    elif a:
        text += ["", f"Autoplay not measured: {a.get('error')}"]
    m = doc.get("million")
    if m and "pan_fps" in m:
        summary.append([f"Player: one snapshot of {m['N']:,} imported points × {m['d']}", "draws; pan/zoom measured",
                        f"data → first frame {_s(m['data_to_first_frame_s'])} s; pan {_f(m['pan_fps'], 1)} fps, "
                        f"zoom {_f(m['zoom_fps'], 1)} fps (software WebGL)", "measured"])
        text += ["", f"**{m['N']:,} points × {m['d']}, imported** (`{m['run']}`: a generated `.npz`, 12 classes × 3 "
                 f"modes, through `read_embeddings` + `import_run` — retrieval metrics on 20,000 sampled queries "
                 f"against all points — then PCA): read {_f(m['read_s'], 0)} s, import {_f(m['import_s'], 0)} s, "
                 f"PCA {_f(m['pca_s'], 0)} s; the Embedding page's player drew it {_f(m['first_draw_s'], 1)} s after "
                 f"the page load (payload {_mb(m['payload_bytes'])} MB, data → first frame "
                 f"{_s(m['data_to_first_frame_s'])} s); streamlit's RSS then {_mb(m['rss_server_bytes'])} MB. Frames "
                 f"per second while dragging in pan mode: **{_f(m['pan_fps'], 1)}**; while zooming with the wheel: "
                 f"**{_f(m['zoom_fps'], 1)}** (page errors: {len(m['page_errors'])}). Software WebGL on 2 CPU "
                 "cores draws every one of the points on every frame; a GPU does this many times faster."]
    elif m:
        text += ["", f"Million-point view not measured: {m.get('error')}"]
    return text


def _scaling(docs: dict) -> str:
    out = []
    lo = docs.get("losses")
    if lo and "rows" in lo:
        rows = lo["rows"]
        def exp_over(var, fixed_keys, name, impl="ours"):
            res = []
            groups = {}
            for r in rows:
                key = tuple(r[k] for k in fixed_keys)
                t = r["pairs"][name]["ours_ms" if impl == "ours" else "pml_ms"]
                groups.setdefault(key, []).append((r[var], t))
            for key, pts in groups.items():
                if len({p[0] for p in pts}) > 1:
                    res.append(fit_exponent([p[0] for p in pts], [p[1] for p in pts]))
            res = [e for e in res if e is not None]
            return statistics.median(res) if res else None
        table = []
        for name in ("proxy_nca", "proxy_anchor", "soft_triple"):
            table.append([name, _f(exp_over("B", ("d", "C", "K"), name)), _f(exp_over("B", ("d", "C", "K"), name, "pml")),
                          _f(exp_over("C", ("B", "d", "K"), name)), _f(exp_over("C", ("B", "d", "K"), name, "pml")),
                          _f(exp_over("d", ("B", "C", "K"), name)), _f(exp_over("K", ("B", "d", "C"), name))])
        # time vs B*C*K*d
        pts = [(r["B"] * r["C"] * r["K"] * r["d"], r["pairs"]["proxy_anchor"]["ours_ms"]) for r in rows]
        out += ["**Losses** — fitted exponent a of t ∝ x^a for x = B, C, d, K (the others fixed; median over the "
                "fixed combinations). The work is one (B × d) · (d × C·K) product plus O(B·C·K) elementwise terms, "
                "so a → 1 in B, C and K once the problem is large enough to leave per-call overhead behind.", "",
                _table(["loss", "B (proxylab)", "B (PML)", "C (proxylab)", "C (PML)", "d (proxylab)", "K (proxylab)"],
                       table), "",
                f"Proxy Anchor (proxylab) against the product B·C·K·d over all configurations: a = "
                f"{_f(fit_exponent([p[0] for p in pts], [p[1] for p in pts]))}.", ""]
    me = docs.get("metrics")
    if me and "rows" in me:
        t = [[f"{r['N']:,}", _f(r["cases"].get("ours", {}).get("median_s"), 3),
              _f(r["cases"].get("pml", {}).get("median_s"), 3), _f(r["cases"].get("matmul", {}).get("median_s"), 3),
              _mb(r["cases"].get("ours", {}).get("peak_delta_bytes"))] for r in me["rows"]]
        ex = me.get("time_exponent_in_N", {})
        out += ["**Metrics** — exact k-NN is Θ(N²·d) work (the matmul) plus a top-k over N per query; memory is "
                "bounded by the chunk budget (256 MiB), not by N².", "",
                _table(["N", "proxylab s", "PML s", "matmul s", "proxylab peak MB"], t), "",
                f"Exponents in N over all sizes: proxylab {_f(ex.get('ours'))}, PML {_f(ex.get('pml'))}, matmul "
                f"{_f(ex.get('matmul'))}; over the two largest sizes only (where fixed per-call costs no longer "
                "matter): " + ", ".join(
                    f"{name} {_f(fit_exponent([r['N'] for r in me['rows'][-2:]], [r['cases'].get(impl, {}).get('median_s') for r in me['rows'][-2:]]))}"
                    for name, impl in (("proxylab", "ours"), ("PML", "pml"), ("matmul", "matmul"))) + ".",
                ""]
    pr = docs.get("projection")
    if pr and "rows" in pr:
        labels = pr["config"]["methods"]
        t = [[f"{r['N']:,}"] + [_s(r["cases"].get(l, {}).get("first_s")) for l in labels] for r in pr["rows"]]
        ex = pr.get("time_exponent_in_N", {})
        out += ["**Projection** — *first* time in s. UMAP fits are capped (`max_fit_points`: 6,000 stacked points "
                "for joint, 4,000 per step otherwise) and the remaining points are placed by a chunked 10-NN "
                "interpolation, so UMAP time grows sub-linearly in N beyond the cap; PCA is one SVD on ≤ 50,000 "
                "rows plus a projection.", "",
                _table(["points"] + labels, t), "",
                "Exponents in N: " + ", ".join(f"{k} {_f(v)}" for k, v in ex.items()) + ".", ""]
    return "\n".join(out)


def _gpu(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    losses: list = []
    text = [f"On **{doc['gpu']}** (CUDA {doc['cuda']}), everything on the GPU. **Losses**, the pairs and sizes of "
            "section 1: " + _losses(doc["losses"], losses)]
    summary += [[row[0].replace("Losses:", "GPU losses:"), *row[1:]] for row in losses]
    rows = [[f"{r['N']:,}", r["d"], _f(r["cpu_s"], 3), _f(r["gpu_s"], 4), _f(r["cpu_over_gpu"], 0),
             f"{r['max_abs_diff']:.0e}", _f(r["metrics_cpu"]["R@1"], 3)] for r in doc["metrics"]]
    text += ["", "**Retrieval metrics** (R@k, MAP@R, ... with the default ks) of the same seeded unit vectors, one "
             "call on the GPU (after a warm-up call on 2,000 of them) against one on this machine's CPU "
             f"({doc['machine']['logical_cores']} cores):", "",
             _table(["N", "d", "CPU s", "GPU s", "CPU ÷ GPU", "max |Δ metric|", "R@1"], rows)]
    return "\n".join(text)


def _plotly_floor(doc: dict, summary: list) -> str:
    if "error" in doc:
        return f"Not measured: {doc['error']}"
    target = doc["ratio_target"]
    for r in doc["rows"]:
        summary.append([f"Dashboard (Plotly view): first chart ÷ a bare Streamlit page with the same points "
                        f"({r['N']:,} points, fresh browser)", f"≤ {target:g}×",
                        f"{r['ratio']:.2f}× ({_f(r['page_s'])} s vs {_f(r['floor_s'])} s)", _ok(r["ratio"] <= target)])
    rows = [[f"{r['N']:,}", r["run"], _f(r["page_s"]), _f(r["floor_s"]), f"{r['ratio']:.2f}×",
             " / ".join(_f(v) for v in r["page_loads_s"]), " / ".join(_f(v) for v in r["floor_loads_s"])]
            for r in doc["rows"]]
    return "\n".join([
        "The Embedding page's Plotly view (`chart=plotly`) against its floor: a bare Streamlit app whose only chart is "
        "`st.plotly_chart` of one `scattergl` trace of the same number of points (no proxylab code), served by the "
        "same Streamlit, loaded alternately with the page in the same headless Chromium, each load in a new "
        f"browser profile (empty HTTP cache), {doc['config']['loads']} loads each after an untimed first one; "
        "seconds until the chart has data, medians. The floor is what fetching and compiling Streamlit's and "
        "Plotly's scripts costs on this machine; the ratio is proxylab's share.",
        "",
        _table(["points", "run", "page s", "floor s", "ratio", "page loads s", "floor loads s"], rows),
    ])


def _retire_absolute_first_chart(summary: list, floor: dict | None) -> None:
    """The Plotly view's absolute 3 s first-chart target is retired where the floor was measured: its verdict says
    why (the bare page's own time), and the ratio rows of section 5c judge proxylab's share."""
    if not floor or "error" in floor or not floor.get("rows"):
        return
    bare = max(r["floor_s"] for r in floor["rows"])
    for row in summary:
        if row[0].startswith("Dashboard (Plotly view): first chart on"):
            row[3] = f"retired: a bare Streamlit + Plotly page alone takes {_f(bare)} s here (5c)"


def render(out: Path) -> str:
    docs = _load(out)
    summary: list[list[str]] = []
    sections = []
    titles = {"losses": "1. Losses (forward + backward)", "metrics": "2. Retrieval metrics",
              "training": "3. Training throughput and logging overhead",
              "own_runs": "3b. Logging a loop of your own; import → playable", "projection": "4. Projection",
              "umap_start": "4b. UMAP's first fit: proxylab vs plain umap-learn",
              "dashboard": "5. Dashboard in a real browser", "gpu": "5b. On a GPU",
              "selection": "5d. A selection's retrieval metrics", "player_floor": "5e. The player against bare regl-scatterplot",
              "plotly_floor": "5c. The Plotly view against a bare Streamlit + Plotly page"}
    fns = {"losses": _losses, "metrics": _metrics, "training": _training, "own_runs": _own_runs,
           "projection": _projection,
           "umap_start": _umap_start, "dashboard": _dashboard, "gpu": _gpu, "plotly_floor": _plotly_floor,
           "selection": _selection, "player_floor": _player_floor}
    for s in SUITES:
        if s not in docs:
            sections.append(f"## {titles[s]}\n\nNot measured (no `{s}.json` in `{out}`).")
            continue
        body = fns[s](docs[s], summary)
        sections.append(f"## {titles[s]}\n\n*Run:* {_provenance(docs[s])}\n\n{body}")
    _retire_absolute_first_chart(summary, docs.get("plotly_floor"))
    sections.append("## 6. Scaling\n\n" + _scaling(docs))
    head = [
        "# proxylab benchmarks",
        "",
        "Generated by `python -m bench` (package `bench/`) from the JSON files in "
        f"`{out.relative_to(REPO) if out.is_absolute() and out.is_relative_to(REPO) else out}`; do not edit the "
        "numbers by hand — rerun (`python -m bench --report-only` re-renders). Every target is a ratio against a "
        "reference measured in the same run on the same machine. Each section names the command, the time, the "
        "machine's load average, the CPU and the versions it ran with. The analysis at the end is hand-written "
        "(`bench/notes.md`).",
        "",
        "## Targets",
        "",
        _table(["what", "target", "measured", "status"], summary) if summary else "No suite has results yet.",
        "",
    ]
    notes = NOTES.read_text() if NOTES.exists() else ""
    return "\n".join(head) + "\n" + "\n\n".join(sections) + ("\n\n" + notes if notes else "") + "\n"
