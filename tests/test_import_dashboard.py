"""Imported runs in the dashboard (streamlit AppTest): the pages that make sense open them, the others say why."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from proxylab.cli import main
from proxylab.store import write_fake_run

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def import_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imp")
    store = root / "store"
    write_fake_run(store, "trained", steps=20, n=150, classes=4, modes_per_class=2, k=2, d=6, snapshot_every=10)
    assert main(["export", "trained", "--store", str(store), "--format", "csv", "--out", str(root / "csv")]) == 0
    assert main(["import", str(root / "csv"), "--store", str(store), "--name", "imported"]) == 0
    rng = np.random.default_rng(0)
    np.savez(root / "plain.npz", embeddings=rng.normal(size=(40, 5)).astype(np.float32), labels=np.arange(40) % 4)
    assert main(["import", str(root / "plain.npz"), "--store", str(store), "--name", "plain"]) == 0  # no proxies
    return store


def app(store: Path, monkeypatch, page: str, query: dict) -> AppTest:
    monkeypatch.setenv("PROXYLAB_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.query_params.update(query)
    at.run()
    return at


def shown_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


@pytest.mark.parametrize("run", ["imported", "plain"])
@pytest.mark.parametrize("page,key", [("embedding", "run"), ("proxies", "run"), ("orthogonality", "run"),
                                      ("metrics", "runs"), ("compare", "runs"), ("gradients", "run")])
def test_pages_open_an_imported_run_without_exceptions(import_store, monkeypatch, run, page, key):
    value = run if key == "run" else f"{run},trained"
    at = app(import_store, monkeypatch, page, {key: value})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]  # an imported run is not an error


def test_metrics_page_shows_the_imported_evals(import_store, monkeypatch):
    at = app(import_store, monkeypatch, "metrics", {"runs": "imported"})
    assert not at.exception
    assert at.get("plotly_chart") or at.dataframe, "the metrics page shows nothing for an imported run"


def test_embedding_page_draws_the_imported_points(import_store, monkeypatch):
    from dashboard.player import decode_payload

    at = app(import_store, monkeypatch, "embedding", {"run": "imported", "chart": "plotly"})
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert specs and any(t.get("customdata") is not None for s in specs for t in s["data"])
    at = app(import_store, monkeypatch, "embedding", {"run": "imported"})  # the default view: the player
    assert not at.exception
    (element,) = at.get("bidi_component")
    header, arrays = decode_payload(element.proto.bytes)
    assert header["n_points"] > 0 and arrays["points"].shape[1:] == (header["n_points"], 2)


def test_gradients_page_says_an_imported_run_has_no_training_history(import_store, monkeypatch):
    at = app(import_store, monkeypatch, "gradients", {"run": "imported"})
    assert not at.exception
    text = shown_text(at)
    assert "was imported with `proxylab import`" in text and "no training history" in text, text[:500]
    assert not at.get("plotly_chart")  # no empty history charts below the notice


def test_runs_page_lists_what_was_imported_from_where(import_store, monkeypatch):
    monkeypatch.setenv("PROXYLAB_STORE", str(import_store))
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.switch_page("views/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    frames = [d.value for d in at.dataframe if "sha256" in d.value.columns]
    assert frames, "no 'imported from' table on the Runs page"
    table = frames[0]
    assert set(table["run"]) == {"imported", "plain"}
    assert table[table["run"] == "plain"]["from"].iloc[0].endswith("plain.npz")
    assert any(b.label == "Import" for b in at.button) or at.get("form")


def test_upload_import_validates_and_records_the_uploaded_names(tmp_path):
    from dashboard.upload import import_uploaded
    from proxylab.store import open_run

    rng = np.random.default_rng(0)
    tensors = "\n".join("\t".join(f"{v:.5f}" for v in row) for row in rng.normal(size=(12, 3))) + "\n"
    metadata = "label\tmode\n" + "".join(f"{i % 3}\t{i % 6}\n" for i in range(12))
    np.save(tmp_path / "p.npy", rng.normal(size=(3, 3)).astype(np.float32))
    path = import_uploaded(tmp_path / "s", "up", ("my_tensors.tsv", tensors.encode()),
                           metadata=("my_meta.tsv", metadata.encode()),
                           proxies=("centres.npy", (tmp_path / "p.npy").read_bytes()))
    run = open_run(tmp_path / "s", path.name)
    assert [f["path"] for f in run.meta["imported_from"]] == ["upload:my_tensors.tsv", "upload:my_meta.tsv",
                                                              "upload:centres.npy"]
    import hashlib

    assert [f["sha256"] for f in run.meta["imported_from"]] == [  # provenance: each upload's own bytes
        hashlib.sha256(content).hexdigest() for content in (tensors.encode(), metadata.encode(),
                                                            (tmp_path / "p.npy").read_bytes())]
    assert run.snapshot(0).proxies.shape == (3, 1, 3)
    assert "mode_coverage" in set(run.evals()["metric"])
    with pytest.raises(ValueError, match="at most 1 MiB"):
        import_uploaded(tmp_path / "s", "big", ("e.npz", b"x" * (2 * 2**20)), max_bytes=2**20)
    with pytest.raises(ValueError, match=r"expected one of \.npz"):
        import_uploaded(tmp_path / "s", "exe", ("e.exe", b"MZ"))
    with pytest.raises(ValueError, match="needs its metadata.tsv"):
        import_uploaded(tmp_path / "s", "tsv", ("t.tsv", tensors.encode()))
    with pytest.raises(ValueError, match="pickle") as refused:
        import_uploaded(tmp_path / "s", "pk", ("my.npz", (tmp_path / "p.npy").read_bytes()[:0] + _pickled_npz(tmp_path)))
    assert str(refused.value).startswith("my.npz: ") and "proxylab-upload-" not in str(refused.value)  # no temp path
    assert not (tmp_path / "s" / "big").exists() and not (tmp_path / "s" / "pk").exists()
    # an uploaded file naming an image on the server never makes the server read it
    from PIL import Image

    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "server.png")
    listing = "e0,e1,label,image_path\n" + "".join(f"{i},{-i},{i % 2},{tmp_path / 'server.png'}\n" for i in range(6))
    path = import_uploaded(tmp_path / "s", "paths", ("e.csv", listing.encode()))
    assert open_run(tmp_path / "s", path.name).eval_images() is None


def _pickled_npz(tmp_path) -> bytes:
    np.savez(tmp_path / "obj.npz", embeddings=np.array([{"a": 1}], dtype=object), labels=np.array([0]))
    return (tmp_path / "obj.npz").read_bytes()


@pytest.mark.parametrize("run", ["imported", "plain"])
def test_a_selection_of_an_imported_run_is_scored_as_queries(import_store, monkeypatch, run):
    """The selection's scores on runs a user brings: one with proxies and modes, one with neither (no coverage)."""
    from proxylab.selection import parse_ids, selection_metrics
    from proxylab.store import open_run

    at = app(import_store, monkeypatch, "embedding", {"run": run, "sel": "0-19,30"})
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "R@1" in d.value.columns)
    stored = open_run(import_store, run)
    step = stored.snapshot_steps()[-1]
    expected = selection_metrics(stored.snapshot(step), parse_ids("0-19,30", 10**6))
    assert list(table["split"]) == list(expected) and len(table)
    for _, row in table.iterrows():
        assert row["R@1"] == pytest.approx(expected[row["split"]]["R@1"], abs=1e-12)
        assert row["MAP@R"] == pytest.approx(expected[row["split"]]["MAP@R"], abs=1e-12)
        assert (row["modes covered"] == "–") == (run == "plain")
