"""Tiny hostile files that ask for gigabytes: each ends in one line, exit 2, in seconds, with bounded memory, through
``proxylab import`` (a fresh process, its peak RSS measured) and through the dashboard's upload."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

PEAK_RSS_LIMIT = 1.5e9  # bytes, the bound for every such file

# the child reports its own peak RSS (ru_maxrss, KiB on Linux) after the import returns
CHILD = """
import resource, sys
from proxylab.cli import main
rc = main(["import", *sys.argv[1:]])
sys.stdout.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) + "\\n")
sys.exit(rc)
"""


def _npy_header(shape, dtype="<f4") -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    return b"\x93NUMPY\x01\x00" + (len(text) + pad + 1).to_bytes(2, "little") + text + b" " * pad + b"\n"


def _labels_bomb(path: Path) -> Path:
    labels = np.arange(8) % 2
    labels[3] = 10**12
    np.savez(path, embeddings=np.ones((8, 4), np.float32), labels=labels)
    return path


def _modes_bomb(path: Path) -> Path:
    modes = np.zeros(8, np.int64)
    modes[5] = 10**12
    np.savez(path, embeddings=np.ones((8, 4), np.float32), labels=np.arange(8) % 2, modes=modes)
    return path


def _deflate_bomb(path: Path, mib: int = 256) -> Path:
    """embeddings.npy: `mib` MiB of zeros deflated to well under a megabyte, streamed (never held in memory)."""
    rows = mib * 2**20 // (4 * 64)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("embeddings.npy", "w", force_zip64=True) as f:
            f.write(_npy_header((rows, 64)))
            zeros = bytes(2**20)
            for _ in range(mib):
                f.write(zeros)
        zf.writestr("labels.npy", _npy_header((rows,), "<i8"))  # claims rows labels, holds none
    return path


def _crafted_npy_shape(path: Path) -> Path:
    """An .npz whose embeddings header declares (10**9, 1024) floats in a member of a few bytes."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("embeddings.npy", _npy_header((10**9, 1024)) + bytes(16))
        zf.writestr("labels.npy", _npy_header((4,), "<i8") + bytes(32))
    return path


def _wide_csv(path: Path) -> Path:
    columns = 70_000
    path.write_text(",".join(f"e{i}" for i in range(columns)) + ",label\n" + ",".join(["0"] * columns) + ",1\n")
    return path


def _endless_tsv_line(path: Path) -> Path:
    (path.parent / "metadata.tsv").write_text("0\n")
    with open(path, "wb") as f:
        block = b"1" * 2**20
        for _ in range(70):
            f.write(block)
    return path


BOMBS = {
    "label id 10**12": (_labels_bomb, "bomb.npz", "label id 1000000000000 is far beyond"),
    "mode id 10**12": (_modes_bomb, "bomb.npz", "mode id 1000000000000 is far beyond"),
    "deflate bomb": (_deflate_bomb, "bomb.npz", "a deflate bomb"),
    "crafted npy shape": (_crafted_npy_shape, "bomb.npz", "truncated or crafted"),
    "70,000 columns": (_wide_csv, "wide.csv", "more than 65,536 columns"),
    "70 MB first line": (_endless_tsv_line, "tensors.tsv", "first line is longer than"),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_cli_refuses_in_one_line_with_bounded_memory(tmp_path, case):
    make, name, message = BOMBS[case]
    path = make(tmp_path / name)
    assert path.stat().st_size < 80 * 2**20
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), "--store", str(tmp_path / "store")],
                         capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("proxylab: error: "), out.stderr[-2000:]
    assert message in lines[0] and len(lines[0]) < 400, lines[0]
    peak = int(out.stdout.strip().splitlines()[-1])
    assert peak < PEAK_RSS_LIMIT, f"{case}: peak RSS {peak / 1e9:.2f} GB"
    assert elapsed < 60, f"{case}: {elapsed:.0f} s"
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())  # nothing half-made


@pytest.mark.parametrize("case", ["label id 10**12", "deflate bomb", "crafted npy shape", "70,000 columns"])
def test_upload_refuses_in_one_line(tmp_path, case):
    from dashboard.upload import import_uploaded

    make, name, message = BOMBS[case]
    path = make(tmp_path / name)
    with pytest.raises(ValueError) as refused:
        import_uploaded(tmp_path / "store", "up", (name, path.read_bytes()))
    text = str(refused.value)
    assert message in text and "\n" not in text and str(tmp_path) not in text.replace(str(path), ""), text


def test_upload_budget_and_size_caps(tmp_path):
    from dashboard import upload

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "e.npz", embeddings=rng.normal(size=(50, 8)).astype(np.float32), labels=np.arange(50) % 5)
    content = (tmp_path / "e.npz").read_bytes()
    with pytest.raises(ValueError, match="over the import budget of 1.0 KiB|over the import budget"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(upload, "UPLOAD_MEMORY_BYTES", 1024)
            upload.import_uploaded(tmp_path / "store", "small", ("e.npz", content))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(upload, "MAX_UPLOAD_DIM", 4)
        with pytest.raises(ValueError, match=r"at most 1,000,000 points of d <= 4, got 50 x 8"):
            upload.import_uploaded(tmp_path / "store", "wide", ("e.npz", content))
    assert upload.import_uploaded(tmp_path / "store", "fine", ("e.npz", content)).name == "fine"


def test_cli_budget_names_how_to_raise_it(tmp_path, monkeypatch, capsys):
    from proxylab.cli import main

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "e.npz", embeddings=rng.normal(size=(4096, 64)).astype(np.float32), labels=np.arange(4096) % 4)
    monkeypatch.setenv("PROXYLAB_IMPORT_MAX_GIB", "0.0001")
    assert main(["import", str(tmp_path / "e.npz"), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "over the import budget of 0.1 MiB (set PROXYLAB_IMPORT_MAX_GIB to allow more)" in err
    monkeypatch.setenv("PROXYLAB_IMPORT_MAX_GIB", "1")
    assert main(["import", str(tmp_path / "e.npz"), "--store", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s" / "import-e" / "run.json").read_text())["status"] == "finished"
