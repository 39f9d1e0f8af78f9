"""No code execution from data: a pickle payload whose ``__reduce__`` would create a marker file is put in every
slot proxylab loads from disk; each load must refuse it with a clear error and the marker must never appear.
A control unpickles the same payload unsafely (here, in the test) to prove it really would fire. Plus a source scan:
no unsafe deserialisation call anywhere in proxylab/ or dashboard/.
"""
from __future__ import annotations

import json

import ast
import io
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from proxylab.cli import main
from proxylab.store import RunError, open_run, write_fake_run

REPO = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears iff the pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker), protocol=2)


def torch_pickled(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def npz_with_object(path: Path, marker: Path, **extra) -> None:
    arr = np.empty(3, dtype=object)
    arr[:] = [Payload(marker)] * 3
    np.savez(path, **extra, evil=arr)


def test_the_payload_is_live(tmp_path):
    """Control: loading unsafely does run the code, so the refusals below mean something."""
    marker = tmp_path / "control"
    pickle.loads(pickled(marker))
    assert marker.exists()
    marker.unlink()
    torch.load(io.BytesIO(torch_pickled({"w": Payload(marker)})), weights_only=False)
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "c.npz"
    npz_with_object(path, marker)
    np.load(path, allow_pickle=True)["evil"]
    assert marker.exists()


@pytest.fixture
def store(tmp_path):
    store = tmp_path / "store"
    write_fake_run(store, "run", steps=20, n=60, classes=3, modes_per_class=2, d=4, k=2)
    return store


def test_snapshot_slot(tmp_path, store, capsys):
    marker = tmp_path / "MARKER"
    run = open_run(store, "run")
    steps = run.snapshot_steps()
    # an object array inside a real snapshot archive
    npz_with_object(run.snapshot_path(steps[-1]), marker, step=np.int64(steps[-1]),
                    embeddings=np.zeros((3, 4), np.float32), labels=np.zeros(3, np.int64))
    with pytest.raises(RunError, match="unreadable snapshot|object|pickle"):
        run.snapshot(steps[-1])
    # a bare pickle under a snapshot's name
    run.snapshot_path(steps[0]).write_bytes(pickled(marker))
    with pytest.raises(RunError, match="unreadable snapshot"):
        run.snapshot(steps[0])
    assert main(["export", "--store", str(store), "run", "--format", "csv", "--out", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err
    assert not marker.exists()


def test_projection_cache_slot(tmp_path, store):
    from proxylab.projection import cache_key, cache_path, cached_projection, project_run

    marker = tmp_path / "MARKER"
    run = open_run(store, "run")
    steps = run.snapshot_steps()[:2]
    path = cache_path(run, cache_key(run, steps, "pca", 2, None))
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"steps": np.array(steps, np.int64)}
    for s in steps:
        arrays[f"points_{s}"] = np.array([Payload(marker)], dtype=object)
        arrays[f"proxies_{s}"] = np.array([Payload(marker)], dtype=object)
    np.savez(path, **arrays)
    assert cached_projection(run, steps, "pca") is None  # refused: treated as a cache miss
    path.write_bytes(pickled(marker))
    assert cached_projection(run, steps, "pca") is None
    result = project_run(run, steps, "pca")  # recomputed from the snapshots
    assert sorted(result) == steps and all(np.isfinite(p.points).all() for p in result.values())
    assert not marker.exists()


def test_features_file_slot(tmp_path, capsys):
    from proxylab.data import DataError, make_dataset

    marker = tmp_path / "MARKER"
    objx = tmp_path / "objx.npz"
    x = np.empty((20, 2), dtype=object)
    x[:] = Payload(marker)
    np.savez(objx, X=x, y=np.arange(20) % 2)
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickled(marker))
    objy = tmp_path / "objy.npz"
    y = np.empty(20, dtype=object)
    y[:] = Payload(marker)
    np.savez(objy, X=np.zeros((20, 2)), y=y)
    for path in (objx, raw, objy):
        with pytest.raises(DataError, match="pickle"):
            make_dataset("features", root=path, split="per-sample")
        rc = main(["train", "--store", str(tmp_path / "s"), "--name", "n", "--no-progress", "--data", "features",
                   "--data-root", str(path)])
        assert rc == 2 and path.name in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "s" / "n").exists()


def test_checkpoint_slot(tmp_path, capsys):
    from proxylab.train import TrainConfig, Trainer
    from proxylab.train.checkpoint import load_checkpoint

    marker = tmp_path / "MARKER"
    store = tmp_path / "store"
    cfg = TrainConfig.from_dict(dict(data="synthetic", data_params={"num_classes": 3, "samples_per_mode": 10},
                                     embedding_dim=4, steps=2, snapshot_points=20, classes_per_batch=3,
                                     samples_per_class=4, device="cpu", eval_every=2))
    Trainer(cfg, store, "r", progress=False).run()
    meta_path = store / "r" / "run.json"  # as if stopped: a finished run is refused before its checkpoint is read
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "status": "interrupted"}))
    ckpt = store / "r" / "weights" / "last.pt"
    for payload in (torch_pickled({"step": 1, "model": Payload(marker)}), pickled(marker)):
        ckpt.write_bytes(payload)
        with pytest.raises(RunError, match="cannot be loaded safely"):
            load_checkpoint(store / "r")
        before = (store / "r" / "run.json").read_bytes()
        assert main(["train", "--store", str(store), "--resume", "r", "--no-progress"]) == 2
        assert "last.pt" in capsys.readouterr().err
        assert (store / "r" / "run.json").read_bytes() == before
    assert not marker.exists()


def test_model_weights_slot(tmp_path):
    from proxylab.models import make_model

    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(torch_pickled({"conv1.weight": Payload(marker)}))
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickled(marker))
    for path in (evil, raw):
        with pytest.raises(ValueError, match="weights_only"):
            make_model("resnet18", (3, 32, 32), 8, weights=str(path))
    assert not marker.exists()


def test_config_and_run_json_slots(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    store = tmp_path / "store"
    for suffix in (".json", ".toml", ".pkl"):
        cfg = tmp_path / f"evil{suffix}"
        cfg.write_bytes(pickled(marker))
        assert main(["train", "--store", str(store), "--name", "n", "--config", str(cfg), "--no-progress"]) == 2
        assert cfg.name in capsys.readouterr().err
    write_fake_run(store, "run", steps=10, n=30, classes=3, modes_per_class=1, d=4, k=1)
    (store / "run" / "run.json").write_bytes(pickled(marker))
    with pytest.raises(RunError, match="run.json"):
        open_run(store, "run")
    assert main(["eval", "--store", str(store), "run"]) == 2
    assert main(["train", "--store", str(store), "--resume", "run", "--no-progress"]) == 2
    assert "run.json" in capsys.readouterr().err
    assert not marker.exists()


# ---------------------------------------------------------------------------------------- source scan
FORBIDDEN = [r"\bpickle\.loads?\b", r"\bcPickle\b", r"allow_pickle\s*=\s*True", r"weights_only\s*=\s*False",
             r"\bimport dill\b", r"\bdill\.loads?\(", r"\bjoblib\.load\b", r"\bmarshal\.loads?\b", r"\byaml\.(unsafe_)?load\(",
             r"\bshelve\.open\(", r"\bUnpickler\(",
             r"pd\.read_pickle", r"\.read_pickle\("]


def _sources():
    files = sorted((REPO / "proxylab").rglob("*.py")) + sorted((REPO / "dashboard").rglob("*.py"))
    assert len(files) > 20
    return files


def test_no_unsafe_deserialisation_in_the_sources():
    hits = []
    for path in _sources():
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern in FORBIDDEN:
                if re.search(pattern, code):
                    hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_every_torch_and_numpy_load_is_explicitly_safe():
    """AST scan: each ``torch.load(...)`` passes ``weights_only=True``, each ``np.load(...)`` ``allow_pickle=False``."""
    bad, seen = [], 0
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            want = {"torch": ("weights_only", True), "np": ("allow_pickle", False), "numpy": ("allow_pickle", False)}
            if owner not in want:
                continue
            seen += 1
            key, value = want[owner]
            kw = {k.arg: k.value for k in node.keywords}
            if not (key in kw and isinstance(kw[key], ast.Constant) and kw[key].value is value):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {owner}.load without {key}={value}")
    assert seen >= 4 and not bad, bad
