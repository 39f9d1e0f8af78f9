"""Every malformed input to ``proxylab import`` gets one clear line (exit 2, no traceback); pickles never run."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from proxylab.cli import main


def cli(capsys, *args) -> str:
    """Run ``proxylab import ARGS``; assert exit 2 and one error line without traceback; return the line."""
    rc = main(["import", *map(str, args)])
    captured = capsys.readouterr()
    assert rc == 2, (rc, captured.err)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proxylab: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture
def good(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "good.npz", embeddings=rng.normal(size=(20, 4)).astype(np.float32),
             labels=np.arange(20) % 4)
    return tmp_path / "good.npz"


def store(tmp_path) -> list[str]:
    return ["--store", str(tmp_path / "store")]


# --------------------------------------------------------------------------------- embeddings files

def test_label_count_differs_from_rows(tmp_path, capsys):
    np.savez(tmp_path / "e.npz", embeddings=np.zeros((10, 3), np.float32), labels=np.arange(9))
    line = cli(capsys, tmp_path / "e.npz", *store(tmp_path))
    assert "e.npz" in line and "label count != rows" in line and "(10,)" in line


def test_projector_metadata_with_the_wrong_number_of_rows(tmp_path, capsys):
    np.savetxt(tmp_path / "tensors.tsv", np.ones((5, 3)), delimiter="\t")
    (tmp_path / "metadata.tsv").write_text("label\n0\n1\n0\n")
    line = cli(capsys, tmp_path / "tensors.tsv", *store(tmp_path))
    assert "metadata.tsv" in line and "expected 5 label rows" in line


def test_projector_without_metadata(tmp_path, capsys):
    np.savetxt(tmp_path / "tensors.tsv", np.ones((5, 3)), delimiter="\t")
    assert "metadata.tsv" in cli(capsys, tmp_path / "tensors.tsv", *store(tmp_path))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_embeddings(tmp_path, capsys, bad):
    emb = np.ones((6, 3), np.float32)
    emb[4, 1] = bad
    pd.DataFrame(emb, columns=["e0", "e1", "e2"]).assign(label=[0, 1] * 3).to_csv(tmp_path / "e.csv", index=False)
    line = cli(capsys, tmp_path / "e.csv", *store(tmp_path))
    assert "e.csv" in line and "finite" in line and "first row 4" in line


def test_empty_files(tmp_path, capsys):
    (tmp_path / "e.csv").write_text("")
    assert "empty" in cli(capsys, tmp_path / "e.csv", *store(tmp_path))
    (tmp_path / "h.csv").write_text("e0,e1,label\n")
    assert "no rows" in cli(capsys, tmp_path / "h.csv", *store(tmp_path))
    np.savez(tmp_path / "z.npz", embeddings=np.zeros((0, 3), np.float32), labels=np.zeros(0, np.int64))
    assert "empty" in cli(capsys, tmp_path / "z.npz", *store(tmp_path))


def test_unknown_format_and_missing_file(tmp_path, capsys):
    (tmp_path / "e.txt").write_text("1 2 3")
    assert "unknown embeddings format '.txt'" in cli(capsys, tmp_path / "e.txt", *store(tmp_path))
    np.save(tmp_path / "e.npy", np.ones((3, 2)))
    assert "no labels" in cli(capsys, tmp_path / "e.npy", *store(tmp_path))
    assert "not found" in cli(capsys, tmp_path / "absent.npz", *store(tmp_path))
    (tmp_path / "folder").mkdir()
    assert "found no embeddings in the folder" in cli(capsys, tmp_path / "folder", *store(tmp_path))
    assert "give embeddings files" in cli(capsys, *store(tmp_path))


def test_table_problems(tmp_path, capsys):
    pd.DataFrame({"e0": [1.0, 2.0], "e1": [0.0, 1.0]}).to_csv(tmp_path / "nolabel.csv", index=False)
    assert "expected a label column" in cli(capsys, tmp_path / "nolabel.csv", *store(tmp_path))
    pd.DataFrame({"e0": [1.0, 2.0], "label": [0, 1], "split": ["train", "val"]}).to_csv(tmp_path / "s.csv", index=False)
    assert "split must be 'train' or 'test'" in cli(capsys, tmp_path / "s.csv", *store(tmp_path))
    pd.DataFrame({"e0": [1.0, 2.0], "label": [0.5, 1.0]}).to_csv(tmp_path / "f.csv", index=False)
    assert "labels must be integers or strings" in cli(capsys, tmp_path / "f.csv", *store(tmp_path))
    pd.DataFrame({"e0": ["a", "b"], "e1": [1.0, 2.0], "label": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    assert "must be numeric" in cli(capsys, tmp_path / "t.csv", *store(tmp_path))


def test_a_bad_cell_is_quoted_with_its_row_and_column(tmp_path, capsys, good):
    frame = pd.DataFrame({"label": [0, 1, 0, 1], "e0": ["1.0", "2.5", "0.5", "1e-3"], "e1": [1.0, 2.0, 3.0, 4.0]})
    frame.loc[2, "e0"] = "abc"
    frame.to_csv(tmp_path / "emb.csv", index=False)
    assert "emb.csv: row 2, column 'e0': could not parse 'abc' as a number" in cli(capsys, tmp_path / "emb.csv",
                                                                                 *store(tmp_path))
    (tmp_path / "tensors.tsv").write_text("1\t2\n3\t4\n5\tx7\n")
    (tmp_path / "metadata.tsv").write_text("0\n1\n0\n")
    assert "tensors.tsv: row 2, column 1: could not parse 'x7' as a number" in cli(capsys, tmp_path / "tensors.tsv",
                                                                                  *store(tmp_path))
    pd.DataFrame({"label": [0, 1, 2, 3], "sub_proxy": [0] * 4, "e0": ["1", "2", "3", "four"], "e1": [0.0] * 4,
                  "e2": [0.0] * 4, "e3": [0.0] * 4}).to_csv(tmp_path / "p.csv", index=False)
    assert "p.csv: row 3, column 'e0': could not parse 'four' as a number" in cli(capsys, good, "--proxies",
                                                                                 tmp_path / "p.csv", *store(tmp_path))


def test_files_that_disagree(tmp_path, capsys, good):
    np.savez(tmp_path / "d5.npz", embeddings=np.ones((4, 5), np.float32), labels=np.arange(4))
    line = cli(capsys, good, tmp_path / "d5.npz", *store(tmp_path))
    assert "d=5" in line and "d=4" in line
    np.savez(tmp_path / "a.npz", embeddings=np.eye(4, dtype=np.float32), labels=np.arange(4), step=3)
    np.savez(tmp_path / "b.npz", embeddings=np.eye(4, dtype=np.float32), labels=np.arange(4), step=3)
    assert "step 3 appears twice" in cli(capsys, tmp_path / "a.npz", tmp_path / "b.npz", *store(tmp_path))


# ------------------------------------------------------------------------------------------ proxies

def test_proxies_dimension_differs_from_embeddings(tmp_path, capsys, good):
    np.save(tmp_path / "p.npy", np.ones((4, 7), np.float32))
    line = cli(capsys, good, "--proxies", tmp_path / "p.npy", *store(tmp_path))
    assert "p.npy" in line and "d=7" in line and "d=4" in line


def test_proxies_k_times_c_not_matching(tmp_path, capsys, good):
    np.save(tmp_path / "p.npy", np.ones((10, 4), np.float32))
    line = cli(capsys, good, "--proxies", tmp_path / "p.npy", "--proxies-per-class", 3, *store(tmp_path))
    assert "K·C not matching" in line and "10" in line
    np.save(tmp_path / "p3.npy", np.ones((4, 2, 4), np.float32))
    assert "K·C not matching" in cli(capsys, good, "--proxies", tmp_path / "p3.npy", "--proxies-per-class", 3,
                                     *store(tmp_path))
    torch.save({"fc": torch.ones(4, 10)}, tmp_path / "st.pt")  # SoftTriple fc: 10 columns, 4 classes
    line = cli(capsys, good, "--proxies", tmp_path / "st.pt", *store(tmp_path))
    assert "st.pt" in line and "K·C not matching" in line


def test_proxies_state_dict_problems(tmp_path, capsys, good):
    torch.save({"a.proxies": torch.ones(4, 4), "b.proxies": torch.ones(4, 4)}, tmp_path / "two.pt")
    assert "--proxies-key" in cli(capsys, good, "--proxies", tmp_path / "two.pt", *store(tmp_path))
    torch.save({"weight": torch.ones(4, 4)}, tmp_path / "none.pt")
    assert "found no proxies" in cli(capsys, good, "--proxies", tmp_path / "none.pt", *store(tmp_path))
    torch.save({"proxies": torch.full((4, 4), float("nan"))}, tmp_path / "nan.pt")
    assert "finite" in cli(capsys, good, "--proxies", tmp_path / "nan.pt", *store(tmp_path))
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file at all")
    assert "not a readable PyTorch file" in cli(capsys, good, "--proxies", tmp_path / "garbage.pt", *store(tmp_path))
    np.save(tmp_path / "p.npy", np.ones((4, 4), np.float32))
    assert "1 file" in cli(capsys, good, "--proxies", tmp_path / "p.npy", "--proxies", tmp_path / "p.npy",
                           *store(tmp_path))


# --------------------------------------------------------------------------------------- checkpoints

def test_checkpoint_problems(tmp_path, capsys):
    torch.save({"w": torch.ones(2)}, tmp_path / "m.pt")
    assert "--checkpoint needs --data" in cli(capsys, "--checkpoint", tmp_path / "m.pt", *store(tmp_path))
    np.savez(tmp_path / "f.npz", X=np.random.default_rng(0).normal(size=(20, 4)), y=np.arange(20) % 4)
    data = ["--data", "features", "--data-root", tmp_path / "f.npz"]
    assert "--arch NAME" in cli(capsys, "--checkpoint", tmp_path / "m.pt", *data, *store(tmp_path))
    assert "unknown torchvision model" in cli(capsys, "--checkpoint", tmp_path / "m.pt", "--arch", "resnet9000",
                                              *data, *store(tmp_path))
    (tmp_path / "cfg.json").write_text('{"model": "linear", "embedding_dim": 3}')
    line = cli(capsys, "--checkpoint", tmp_path / "m.pt", "--model-config", tmp_path / "cfg.json", *data,
               *store(tmp_path))
    assert "do not fit the model" in line and "m.pt" in line


# ---------------------------------------------------------------------------------- pickle payloads

class Payload:
    """Creating this object from a pickle creates the marker file (what an attacker's code would do)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_payload_is_live(tmp_path):
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()  # so the refusals below are meaningful


@pytest.mark.parametrize("role", ["embeddings", "proxies", "checkpoint"])
@pytest.mark.parametrize("kind", ["pkl", "npy", "npz", "pt", "pickle-as-pt", "pickle-as-npy"])
def test_pickle_payloads_are_refused_without_running(tmp_path, capsys, good, role, kind):
    marker = tmp_path / "PWNED"
    evil = Payload(marker)
    suffix = {"pkl": ".pkl", "npy": ".npy", "npz": ".npz", "pt": ".pt", "pickle-as-pt": ".pt",
              "pickle-as-npy": ".npy"}[kind]
    path = tmp_path / f"evil{suffix}"
    if kind in ("pkl", "pickle-as-pt", "pickle-as-npy"):
        path.write_bytes(pickle.dumps(evil))
    elif kind == "npy":
        np.save(path, np.array([evil, 1], dtype=object), allow_pickle=True)
    elif kind == "npz":
        np.savez(path, embeddings=np.array([evil], dtype=object), labels=np.array([0]), proxies=np.array([evil]))
    else:
        torch.save({"proxies": torch.ones(4, 4), "extra": evil}, path)
    if role == "embeddings":
        line = cli(capsys, path, *store(tmp_path))
    elif role == "proxies":
        line = cli(capsys, good, "--proxies", path, *store(tmp_path))
    else:
        np.savez(tmp_path / "f.npz", X=np.ones((6, 3)), y=np.arange(6) % 2)
        line = cli(capsys, "--checkpoint", path, "--arch", "resnet18", "--data", "features", "--data-root",
                   tmp_path / "f.npz", *store(tmp_path))
    assert not marker.exists()
    if not (role == "embeddings" and suffix == ".npy"):  # an .npy is refused as embeddings before loading
        assert "pickle" in line, line
    assert str(path) in line or path.name in line


def test_cli_subprocess_exit_code_and_single_line(tmp_path):
    (tmp_path / "e.txt").write_text("x")
    out = subprocess.run([sys.executable, "-m", "proxylab", "import", str(tmp_path / "e.txt"), "--store",
                          str(tmp_path / "s")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"proxylab: error: {tmp_path / 'e.txt'}: unknown embeddings format "
                                               "'.txt'; expected .npz, .parquet, .csv, a TensorBoard projector "
                                               "tensors.tsv (+ metadata.tsv), or a folder of those"]
    assert not (tmp_path / "s").exists()  # nothing was written


@pytest.mark.parametrize("left_as", ["failed", "running"])  # running: the importing process was killed
def test_a_retry_replaces_its_own_unfinished_attempt_without_overwrite(good, tmp_path, capsys, left_as):
    import json

    from dashboard.upload import default_run_name

    assert main(["import", str(good), *store(tmp_path)]) == 0
    run_json = tmp_path / "store" / "import-good" / "run.json"
    meta = json.loads(run_json.read_text())
    meta.update(status=left_as, error="MemoryError" if left_as == "failed" else None)
    run_json.write_text(json.dumps(meta))
    assert default_run_name(tmp_path / "store", "good.npz") == "import-good"
    assert main(["import", str(good), *store(tmp_path)]) == 0  # same default name, no --overwrite needed
    assert json.loads(run_json.read_text())["status"] == "finished"
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["import-good"]
    assert main(["import", str(good), *store(tmp_path)]) == 0  # a finished import is kept: the next one is -2
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["import-good", "import-good-2"]
    capsys.readouterr()
    assert "already exists" in cli(capsys, good, *store(tmp_path), "--name", "import-good")


def test_an_error_quoting_a_huge_cell_stays_one_short_line(tmp_path, capsys):
    cell = "y" * 5_000_000  # a split value the import quotes when it refuses it
    (tmp_path / "e.csv").write_text(f"e0,e1,label,split\n1,2,0,{cell}\n3,4,1,test\n")
    line = cli(capsys, tmp_path / "e.csv", *store(tmp_path))
    assert len(line) <= len("proxylab: error: ") + 500
