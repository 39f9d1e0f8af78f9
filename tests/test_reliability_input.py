"""Hostile input through the CLI and the API: run names, configs, data files, corrupt run files.

Every case must give exit code 2 with exactly one ``proxylab: error: ...`` line naming the problem, raise nothing
else (an exception escaping ``main`` would be a traceback), and leave every existing run byte-for-byte unchanged
(the store is hashed before and after; ``.lock`` holds the last writer's pid and is not run data).
Most cases call ``proxylab.cli.main`` in-process (torch start-up once); a few run the real ``python -m proxylab``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from proxylab.cli import main
from proxylab.store import open_run, list_runs, write_fake_run
from proxylab.train import TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[1]
TINY = dict(data="synthetic", data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 20},
            model="linear", embedding_dim=4, split="per-sample", classes_per_batch=4, samples_per_class=6,
            steps=6, eval_every=3, snapshot_points=40, eval_max_points=80, num_snapshots=3, checkpoint_every=3,
            lr=1e-2, device="cpu")
# flags that make any `train` quick if it ever got as far as training
# (as --set, so a later --set under test wins; flags would override it)
QUICK = ["--no-progress", "--set", "steps=2", "--set", "embedding_dim=4", "--set", "snapshot_points=20",
         "--set", "classes_per_batch=2", "--set", "samples_per_class=4", "--set", "device=\"cpu\""]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def template_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("template") / "store"
    torch.set_num_threads(1)
    Trainer(TrainConfig.from_dict(TINY), store, "good", progress=False).run()
    write_fake_run(store, "fake", steps=20, n=60, classes=3, modes_per_class=2, d=4)
    return store


@pytest.fixture
def store(template_store, tmp_path) -> Path:
    dest = tmp_path / "store"
    shutil.copytree(template_store, dest)
    return dest


def tree_hash(root: Path) -> dict[str, str]:
    out = {}
    # SQLite readers create an empty -wal and a -shm (shared-memory index) beside a WAL database: not run data
    for p in sorted(root.rglob("*")):
        if p.name.endswith("-wal") and p.stat().st_size == 0 or p.name.endswith("-shm"):
            continue
        if p.is_file() and p.name != ".lock":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def fails_cleanly(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI in-process; it must return 2 with one error line containing every needle."""
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("proxylab: error:")]
    assert rc == 2, f"exit {rc} for {argv!r}: {err!r}"
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# ------------------------------------------------------------------------------------------ run names
HOSTILE_NAMES = ["../x", "../../etc/passwd", "/tmp/absolute-run", "a\x00b", "a" * 300, "ünïcödé", "abc\n", ".hidden",
                 "a/b", "x..y", "", " lead", "con\\sole", "日本"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:24])
def test_hostile_run_names_are_refused_everywhere(capsys, store, tmp_path, name):
    before = tree_hash(tmp_path)
    fails_cleanly(capsys, ["train", "--store", str(store), "--name", name, *QUICK], "run name")
    fails_cleanly(capsys, ["train", "--store", str(store), "--resume", name, "--no-progress"], "run name")
    fails_cleanly(capsys, ["eval", "--store", str(store), name], "run name")
    fails_cleanly(capsys, ["export", "--store", str(store), name, "--format", "csv", "--out", str(tmp_path / "o")],
                  "run name")
    assert tree_hash(tmp_path) == before  # nothing created or changed, inside the store or beside it
    assert not Path("/tmp/absolute-run").exists()


def test_hostile_name_in_a_real_process_exits_2_without_traceback(store):
    before = tree_hash(store.parent)
    out = subprocess.run([sys.executable, "-m", "proxylab", "train", "--store", str(store), "--name", "../escape",
                          *QUICK], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and "run name" in out.stderr
    assert tree_hash(store.parent) == before


# ------------------------------------------------------------------------------------------ configs
BAD_SETTINGS = [
    ("bogus=1", "unknown config key 'bogus'"), ("lr=-1", "lr must be"), ("lr=NaN", "lr must be"),
    ("lr=Infinity", "lr must be"), ('lr="fast"', "lr must be"), ("proxies_per_class=0", "proxies_per_class must be"),
    ("embedding_dim=0", "embedding_dim must be"), ("steps=0", "steps must be"), ("steps=1.5", "steps must be"),
    ("steps=true", "steps must be"), ("steps=1e400", "steps must be"), ("so_weight=-0.1", "so_weight must be"),
    ("data_params=null", "data_params must be"), ("data_params=[1]", "data_params must be"),
    ('eval_ks=[1,"a"]', "eval_ks must be"), ("eval_ks=[]", "eval_ks must be"), ("seed=-1", "seed must be"),
    ('optimizer="lbfgs"', "optimizer must be"), ('nan_policy="ignore"', "nan_policy must be"),
    ('data_params={"num_classes":-3}', "num_classes must be"), ('model_params={"zz":1}', "unknown parameter 'zz'"),
    ('loss_params={"alpha":NaN}', "alpha must be"), ('loss="nope"', "unknown loss 'nope'"),
    ('data="nope"', "nope"), ("momentum=1", "momentum must be"), ("grad_clip=0", "grad_clip must be"),
    ("test_fraction=0", "test_fraction must be a float > 0 and < 1"), ("test_fraction=1", "test_fraction must be"),
    ('data_params={"seed": 1}', "data_params must not set 'seed'"),
    ('data_params={"test_fraction": 0.5}', "data_params must not set 'test_fraction'"),
]


@pytest.mark.parametrize("setting, message", BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_bad_config_values_via_set(capsys, store, setting, message):
    before = tree_hash(store)
    fails_cleanly(capsys, ["train", "--store", str(store), "--name", "new", *QUICK, "--set", setting], message)
    assert tree_hash(store) == before and not (store / "new").exists()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_CONFIG_FILES = [
    ("empty.json", b"", "is empty"), ("blank.json", b"  \n\t", "is empty"), ("garbage.json", b"{not json", "not valid"),
    ("binary.json", bytes(range(256)) * 4, "not UTF-8"), ("list.json", b"[1, 2]", "must be a mapping"),
    ("string.json", b'"lr"', "must be a mapping"), ("deep.json", _nested(100_000).encode(), "not valid"),
    ("deep-obj.json", ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(), "not valid"),
    ("unknown.json", b'{"lr": 0.1, "bogus": 1}', "unknown config key 'bogus'"),
    ("nan.json", b'{"lr": NaN}', "lr must be"), ("neg.toml", b"embedding_dim = -4\n", "embedding_dim must be"),
    ("garbage.toml", b"= = =\n", "not valid toml"), ("k0.toml", b"proxies_per_class = 0\n", "proxies_per_class"),
    ("huge.json", b'{"seed": 1' + b" " * (2 << 20) + b"}", "at most"),
    ("pickle.json", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94.", "not UTF-8"),
    ("cfg.yaml", b"lr: 0.1\n", "YAML is not supported; use JSON (.json) or TOML (.toml)"),
    ("cfg.YML", b"lr: 0.1\n", "YAML is not supported; use JSON (.json) or TOML (.toml)"),
]


@pytest.mark.parametrize("fname, content, message", BAD_CONFIG_FILES, ids=[f for f, _, _ in BAD_CONFIG_FILES])
def test_bad_config_files(capsys, store, tmp_path, fname, content, message):
    path = tmp_path / fname
    path.write_bytes(content)
    before = tree_hash(store)
    line = fails_cleanly(capsys, ["train", "--store", str(store), "--name", "new", "--config", str(path), *QUICK],
                         message)
    assert fname in line or "config key" in line or "must be" in line  # names the file or the parameter
    assert tree_hash(store) == before and not (store / "new").exists()


def test_config_path_that_is_missing_or_a_folder(capsys, store, tmp_path):
    fails_cleanly(capsys, ["train", "--store", str(store), "--config", str(tmp_path / "nope.json"), *QUICK],
                  "nope.json")
    fails_cleanly(capsys, ["train", "--store", str(store), "--config", str(tmp_path), *QUICK], str(tmp_path))


def test_a_taken_run_name_names_the_cli_options(capsys, store):
    line = fails_cleanly(capsys, ["train", "--store", str(store), "--name", "good", *QUICK], "already exists",
                         "--name", "--resume good")
    assert "exist_ok" not in line  # the Python keyword means nothing on the command line


def test_classes_per_batch_beyond_the_classes_is_recorded_as_used_and_said_once(capsys, tmp_path):
    rc = main(["train", "--store", str(tmp_path), "--name", "capped", *QUICK, "--set",
               'data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 10}', "--split", "per-sample",
               "--classes-per-batch", "9"])
    err = capsys.readouterr().err
    assert rc == 0, err
    notes = [line for line in err.splitlines() if "classes_per_batch=" in line]
    assert notes == ["proxylab: note: classes_per_batch=9 is more than the 4 train classes; using 4"], err
    meta = open_run(tmp_path, "capped").meta
    assert meta["config"]["classes_per_batch"] == 4 and meta["config_requested"] == {"classes_per_batch": 9}
    meta_path = tmp_path / "capped" / "run.json"  # as if stopped (a finished run is not resumed)
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "status": "interrupted"}))
    rc = main(["train", "--store", str(tmp_path), "--resume", "capped", "--no-progress"])
    assert rc == 0 and "classes_per_batch=" not in capsys.readouterr().err  # said once: the run now holds 4


# ------------------------------------------------------------------------------------------ data files
def _labels(n=40, c=4):
    return np.repeat(np.arange(c), n // c)


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def make_bad_data(folder: Path) -> list[tuple[Path, str]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    cases = [
        (_npz(folder / "x1d.npz", X=x[:, 0], y=_labels()), "shape"),
        (_npz(folder / "nan.npz", X=np.where(np.arange(40)[:, None] == 7, np.nan, x), y=_labels()), "NaN or inf"),
        (_npz(folder / "inf.npz", X=np.where(np.arange(40)[:, None] == 3, np.inf, x), y=_labels()), "NaN or inf"),
        (_npz(folder / "f32overflow.npz", X=np.full((40, 3), 1e300), y=_labels()), "float32"),
        (_npz(folder / "oneclass.npz", X=x, y=np.zeros(40, int)), "at least 2 classes"),
        (_npz(folder / "floatlabels.npz", X=x, y=_labels().astype(float)), "labels must be integers or strings"),
        (_npz(folder / "boollabels.npz", X=x, y=_labels() % 2 == 0), "labels must be integers or strings"),
        (_npz(folder / "neglabels.npz", X=x, y=_labels() - 1), "labels must be >= 0"),
        (_npz(folder / "labels2d.npz", X=x, y=_labels()[:, None]), "labels must have shape"),
        (_npz(folder / "shortlabels.npz", X=x, y=_labels()[:30]), "labels must have shape"),
        (_npz(folder / "complex.npz", X=x + 1j, y=_labels()), "real numbers"),
        (_npz(folder / "bytesx.npz", X=np.full((40, 3), b"a"), y=_labels()), "real numbers"),
        (_npz(folder / "strx.npz", X=x.astype(str), y=_labels()), "real numbers"),
        (_npz(folder / "nosamples.npz", X=np.zeros((0, 3)), y=np.zeros(0, int)), "no samples"),
        (_npz(folder / "nofeatures.npz", X=np.zeros((40, 0)), y=_labels()), "no samples"),
        (_npz(folder / "nox.npz", features=x, y=_labels()), "expected arrays 'X' and 'y'"),
        (_npz(folder / "objx.npz", X=np.array([[object()] * 3] * 40, dtype=object), y=_labels()), "pickled"),
        (_npz(folder / "objy.npz", X=x, y=np.array(["a", 1] * 20, dtype=object)), "pickled"),
        (_npz(folder / "structy.npz", X=x, y=np.zeros(40, dtype=[("a", "i4")])), "labels must be integers"),
        (_npz(folder / "modes.npz", X=x, y=_labels(), modes=np.full(40, 0.5)), "modes must be integers"),
    ]
    (folder / "empty.npz").write_bytes(b"")
    (folder / "garbage.npz").write_bytes(os.urandom(2000))
    (folder / "truncated.npz").write_bytes((folder / "nan.npz").read_bytes()[:300])
    np.save(folder / "single.npy", x)
    os.replace(folder / "single.npy", folder / "single.npz")
    (folder / "empty.csv").write_text("")
    (folder / "header.csv").write_text("label,f0,f1\n")
    (folder / "strfeat.csv").write_text("label,f0\n" + "".join(f"{i % 2},abc\n" for i in range(10)))
    (folder / "nolabel.csv").write_text("a,b\n1,2\n3,4\n")
    (folder / "nancsv.csv").write_text("label,f0\n" + "".join(f"{i % 2},{'nan' if i == 4 else i}\n" for i in range(10)))
    (folder / "data.txt").write_text("1,2\n")
    (folder / "adir.npz").mkdir()
    cases += [(folder / "empty.npz", "empty"), (folder / "garbage.npz", "not a readable .npz"),
              (folder / "truncated.npz", "not a readable .npz"), (folder / "single.npz", "expected an .npz archive"),
              (folder / "empty.csv", "empty"), (folder / "header.csv", "no rows"), (folder / "strfeat.csv", "numeric"),
              (folder / "nolabel.csv", "'label' column"), (folder / "nancsv.csv", "NaN or inf"),
              (folder / "data.txt", "suffix"), (folder / "adir.npz", "not found"),
              (folder / "missing.npz", "not found")]
    return cases


def test_bad_feature_files_via_api(tmp_path):
    from proxylab.data import DataError, make_dataset

    cases = make_bad_data(tmp_path)
    for path, message in cases:
        with pytest.raises(DataError) as err:
            make_dataset("features", root=path, split="per-sample")
        text = str(err.value)
        assert "\n" not in text and path.name in text and message.lower() in text.lower(), (path.name, text)
        assert "allow_pickle" not in text  # never advise loading pickles
    assert len(cases) == 32


def _features_csv(path: Path, classes: int = 3, per_class: int = 12) -> Path:
    rng = np.random.default_rng(0)
    labels = np.repeat([f"class-{c}" for c in range(classes)], per_class)
    frame = {"label": labels, **{f"f{j}": rng.normal(size=len(labels)) for j in range(5)}}
    import pandas as pd

    pd.DataFrame(frame).to_csv(path, index=False)
    return path


def test_own_features_train_with_a_per_sample_split_by_default_and_a_test_fraction(capsys, tmp_path):
    """3 classes: zero-shot (the old default) would refuse them; per-sample keeps every class on both sides."""
    path = _features_csv(tmp_path / "feats.csv")
    rc = main(["train", "--store", str(tmp_path / "s"), "--name", "own", *QUICK, "--data", "features",
               "--data-root", str(path), "--test-fraction", "0.25"])
    assert rc == 0, capsys.readouterr().err
    meta = open_run(tmp_path / "s", "own").meta
    assert meta["config"]["test_fraction"] == 0.25
    info = meta["dataset"]
    assert info["split"] == "per-sample" and info["test_fraction"] == 0.25
    assert info["num_samples"] == {"train": 27, "test": 9}  # round(12 * 0.25) = 3 of each of the 3 classes
    assert info["class_names"]["train"] == info["class_names"]["test"] == ["class-0", "class-1", "class-2"]


def test_a_bad_csv_cell_is_quoted_with_its_row_and_column(capsys, store, tmp_path):
    path = _features_csv(tmp_path / "cell.csv")
    lines = path.read_text().splitlines()
    cells = lines[4].split(",")  # data row 3 (0-based, the header is line 0)
    cells[lines[0].split(",").index("f2")] = "abc"
    lines[4] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    fails_cleanly(capsys, ["train", "--store", str(store), "--name", "new", *QUICK, "--data", "features",
                           "--data-root", str(path)], "cell.csv: row 3, column 'f2': could not parse 'abc' as a number")


def test_bad_feature_files_via_cli(capsys, store, tmp_path):
    before = tree_hash(store)
    cases = make_bad_data(tmp_path)
    for path, message in cases:
        fails_cleanly(capsys, ["train", "--store", str(store), "--name", "new", *QUICK, "--data", "features",
                               "--data-root", str(path)], path.name, message)
        assert not (store / "new").exists()
    assert tree_hash(store) == before


# ------------------------------------------------------------------------------------------ corrupt runs
def _corruptions(run: Path) -> dict[str, callable]:
    snap = run / "snapshots" / "step_00000006.npz"  # the last snapshot of the TINY run
    db = run / "metrics.sqlite"
    ckpt = run / "weights" / "last.pt"
    return {
        "run.json truncated": lambda: (run / "run.json").write_bytes((run / "run.json").read_bytes()[:40]),
        "run.json garbled": lambda: (run / "run.json").write_bytes(os.urandom(200)),
        "run.json not an object": lambda: (run / "run.json").write_text("[1, 2, 3]"),
        "run.json bad schema": lambda: (run / "run.json").write_text('{"schema_version": 99, "status": "finished"}'),
        "run.json bad status": lambda: (run / "run.json").write_text('{"schema_version": 1, "status": "exploded"}'),
        "run.json removed": lambda: (run / "run.json").unlink(),
        "sqlite garbled": lambda: db.write_bytes(b"SQLite format 3\x00" + os.urandom(3000)),
        "sqlite truncated": lambda: db.write_bytes(db.read_bytes()[:1000]),
        "sqlite not a db": lambda: db.write_text("hello"),
        "sqlite wrong tables": lambda: (db.unlink(), sqlite3.connect(db).execute("CREATE TABLE x(a)").connection.commit()),
        "snapshot truncated": lambda: snap.write_bytes(snap.read_bytes()[:500]),
        "snapshot garbled": lambda: snap.write_bytes(os.urandom(500)),
        "snapshot wrong step": lambda: np.savez(snap, step=np.int64(12345), embeddings=np.zeros((3, 4), np.float32),
                                                labels=np.zeros(3, np.int64)),
        "snapshot object array": lambda: np.savez(snap, step=np.int64(int(snap.stem[5:])),
                                                  embeddings=np.array([[object()]], dtype=object), labels=np.zeros(1)),
        "checkpoint truncated": lambda: ckpt.write_bytes(ckpt.read_bytes()[:200]),
        "checkpoint garbled": lambda: ckpt.write_bytes(os.urandom(500)),
        "checkpoint empty": lambda: ckpt.write_bytes(b""),
        "checkpoint removed": lambda: ckpt.unlink(),
        "checkpoint of another model": lambda: torch.save({"step": 3, "model": {"w": torch.zeros(2)}}, ckpt),
        "checkpoint a list": lambda: torch.save([1, 2, 3], ckpt),
        "config missing": lambda: (run / "run.json").write_text(json.dumps(
            {k: v for k, v in json.loads((run / "run.json").read_text()).items() if k != "config"})),
        "config hostile": lambda: (run / "run.json").write_text(json.dumps(
            {**json.loads((run / "run.json").read_text()), "config": {**TINY, "lr": -5}})),
    }


CORRUPTIONS = list(_corruptions(Path("/nonexistent")))


@pytest.mark.parametrize("what", CORRUPTIONS)
def test_corrupt_run_files_give_one_line_errors_and_change_nothing(capsys, store, tmp_path, what):
    run = store / "good"
    _corruptions(run)[what]()
    before = tree_hash(store)
    reads_fail = not what.startswith(("checkpoint", "config"))
    # resume: the checkpoint and run.json are what it needs; anything it cannot use is one clear line
    if what.startswith("snapshot"):
        pass  # resume does not read snapshots (those after the checkpoint are rewritten)
    else:
        fails_cleanly(capsys, ["train", "--store", str(store), "--resume", "good", "--no-progress"])
    if reads_fail:
        command = ["eval", "--store", str(store), "good"]
        if what.startswith("snapshot"):
            command = ["export", "--store", str(store), "good", "--format", "csv", "--out", str(tmp_path / "out")]
        fails_cleanly(capsys, command, "good" if what.startswith("run.json") else "")
    # listing never fails: the bad run is listed with its problem, the others stay readable
    assert main(["list", "--store", str(store)]) == 0
    capsys.readouterr()
    summaries = {s.name: s for s in list_runs(store)}
    assert summaries["fake"].ok and open_run(store, "fake").scalars().shape[0] == 20
    if what.startswith(("run.json", "sqlite")):
        assert not summaries["good"].ok and "\n" not in summaries["good"].error
    assert tree_hash(store) == before, f"{what}: the store changed"


@pytest.mark.parametrize("what", ["checkpoint garbled", "run.json garbled"])
def test_corrupt_run_in_a_real_process(store, what):
    _corruptions(store / "good")[what]()
    before = tree_hash(store)
    out = subprocess.run([sys.executable, "-m", "proxylab", "train", "--store", str(store), "--resume", "good",
                          "--no-progress"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("proxylab: error:")
    assert tree_hash(store) == before


def test_resume_with_missing_checkpoint_says_so(capsys, store):
    meta_path = store / "good" / "run.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "status": "interrupted"}))  # a finished run is refused before this
    (store / "good" / "weights" / "last.pt").unlink()
    before = tree_hash(store)
    fails_cleanly(capsys, ["train", "--store", str(store), "--resume", "good", "--no-progress"], "no checkpoint")
    assert tree_hash(store) == before
    assert open_run(store, "good").status == "interrupted"
